"""Stage 1, reading config files: load, compose the ``defaults`` list with the bundled groups, apply
``-o`` overrides, interpolate, and validate (JSON Schema, then semantic checks).

``loader.load_configs(paths, overrides)`` gives one ``loaded.LoadedConfig`` per file (the contract
with spec building is in ``loaded``), or raises a ``ConfigError`` with every problem of every file;
``loader.expand_paths`` turns files and directories into the files read; ``bundled.available_groups``
lists the bundled groups. ``compose`` runs ``defaults_list`` → ``merge`` → ``overrides`` →
``interpolate``, placing problems with ``sources``; ``schema_check`` and ``semantic`` validate;
``rules`` and ``prices`` hold the naming and limit rules and the price table.

Light to import: YAML is imported by the modules that load (``loader`` and below), OmegaConf only
when a config interpolates (``lazy_omegaconf``), jsonschema never (``schema_check`` evaluates the
schema itself); callers import ``loader`` inside the functions that load, so ``nimctl --help``
pays for none of it. This file stays a docstring: import the module you need.
"""
