"""Reading config files: load, compose the ``defaults`` list with the bundled groups, apply ``-o``
overrides, interpolate, and validate (JSON Schema, then semantic checks).

This module stays light to import: YAML, OmegaConf and jsonschema are imported by the functions
that need them (``nimctl --help`` must not pay for them).

What ``LoadedConfig.config`` holds (the contract with spec building):
- the composed, interpolated config as plain dicts/lists/scalars, without ``defaults``;
- env values (top-level ``env_vars``, ``evaluation.env_vars``, ``deployment.env_vars``,
  ``deployment.lepton_config.envs``, ``execution.lepton_platform.tasks.env_vars``,
  ``evaluation.tasks[].env_vars``) are strings or ``{"value_from": {"secret_name_ref": NAME}}``;
  a string may carry the launcher's ``lit:`` / ``host:`` / ``runtime:`` prefix
  (``nimctl.common.envref`` reads them when specs are built);
- ``command`` lists hold strings (a ``command`` string is left for the caller to split with shlex);
- each ``execution.lepton_platform.tasks.mounts[]`` has ``from`` (default ``node-nfs:lepton-shared-fs``);
- ``deployment.port`` is an int, or ``"auto"`` (local execution only).
Defaults not set by a bundled group (``target.api_endpoint.api_key_name`` → ``API_KEY``, replicas,
the endpoint mount's ``from``) are the spec builder's to apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nimctl.common.errors import ConfigProblem
    from nimctl.config.sources import Source


@dataclass
class LoadedConfig:
    """One config file, composed, interpolated and validated: one stack."""

    path: str  # the file as given (or as found in a -f directory)
    stack_name: str
    config: dict[str, Any]
    warnings: list[ConfigProblem]
    _sources: list[Source] = field(default_factory=list, repr=False, compare=False)

    def locate(self, key_path: str) -> tuple[str, int | None, int | None]:
        """Where ``key_path`` (e.g. "evaluation.tasks.0.name") got its value: (file, line, column).

        The layer merged last that writes the key wins: an ``-o`` override ("<override -o KEY>", no
        line), else the user's file, else the bundled group file. A key written nowhere (a list
        item inside a value, say) is located at its nearest written parent; failing that, the file.
        """
        from nimctl.common.keypath import lineage

        for candidate in lineage(key_path):
            for source in reversed(self._sources):
                mark = source.find(candidate)
                if mark is not None:
                    return source.label, mark[0], mark[1]
        return self.path, None, None


def expand_paths(paths: list[str]) -> list[str]:
    """A file as is, a directory's *.yaml / *.yml files sorted. A missing path is a ConfigError."""
    from nimctl.config.loader import expand_paths as _expand

    return _expand(paths)


def load_configs(paths: list[str], overrides: list[str] | tuple[str, ...] = ()) -> list[LoadedConfig]:
    """Load, compose and validate every config file in ``paths`` (files or directories).

    Raises ``nimctl.common.errors.ConfigError`` carrying all problems of all files (a file's errors
    together, with its warnings) when any file has an error. Warnings of valid files are returned
    in each ``LoadedConfig.warnings``.
    """
    from nimctl.config.loader import load_configs as _load

    return _load(paths, overrides)


def available_groups() -> dict[str, list[str]]:
    """The bundled config groups and their options, e.g. {"deployment": ["mock", "nim", ...], ...}."""
    from nimctl.config.bundled import available_groups as _groups

    return _groups()


__all__ = ["LoadedConfig", "available_groups", "expand_paths", "load_configs"]
