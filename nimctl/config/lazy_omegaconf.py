"""OmegaConf, imported on first need, with nimctl's resolvers registered.

Takes nothing; gives ``oc()``, the ``OmegaConf`` class with ``nimctl.python`` and the launcher's
``select_not_null`` resolvers registered. A config without any ``${...}`` is composed without it
(see ``merge.plain_merge``): importing OmegaConf costs ~50 ms of every start-up and its merge
~7 ms per file, so nothing imports it at module level.
"""

from __future__ import annotations

import sys
from typing import Any

_omegaconf: Any = None


def oc() -> Any:
    """The OmegaConf class, imported on first need with nimctl's resolvers registered."""
    global _omegaconf
    if _omegaconf is None:
        from omegaconf import OmegaConf

        register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
        if not OmegaConf.has_resolver("nimctl.python"):
            register("nimctl.python", lambda: sys.executable)
        if not OmegaConf.has_resolver("select_not_null"):
            # The launcher's resolver (its vllm/sglang groups use it): the value at a key path,
            # or the default when that value is null or absent.
            def select_not_null(key: str, default: Any, *, _root_: Any) -> Any:
                value = OmegaConf.select(_root_, key, default=None)
                return default if value is None else value

            register("select_not_null", select_not_null, use_cache=False)
        _omegaconf = OmegaConf
    return _omegaconf
