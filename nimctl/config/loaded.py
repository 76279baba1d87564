"""What loading gives: ``LoadedConfig``, one config file composed, interpolated and validated (one
stack), and where each of its keys was written (``locate``). Built by ``nimctl.config.loader``;
read by the stack builder. Imports nothing heavy, so it can be a type anywhere.

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
