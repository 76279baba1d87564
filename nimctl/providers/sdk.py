"""Load the leptonai SDK's API modules without its package ``__init__``.

``import leptonai.api.v2.client`` first runs ``leptonai/__init__.py``, which imports the SDK's
photon client (``leptonai.client``: fastapi, httpx and their dependencies) that nimctl never uses:
about 0.3 s of the ~0.75 s every Lepton command spends importing the SDK. ``prepare()`` registers
the ``leptonai`` package without running that file, so ``leptonai.api.v2.*`` imports only what it
needs. The package stays complete for anyone else in the process: the first access to an attribute
it lacks (``leptonai.Client``, ``leptonai.__version__``, ``from leptonai import Client``) runs the
real ``__init__`` then (PEP 562 module ``__getattr__``).

Nothing changes when leptonai is already imported, or when its package cannot be found this way.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

PACKAGE = "leptonai"
_lock = threading.RLock()  # re-entrant: running __init__ may touch the package again


def prepare() -> None:
    """Register the SDK package lazily (idempotent; a no-op once it is imported)."""
    if PACKAGE in sys.modules:
        return
    with _lock:
        if PACKAGE in sys.modules:
            return
        try:
            spec = importlib.util.find_spec(PACKAGE)
        except (ImportError, ValueError):
            return
        if spec is None or spec.loader is None or not spec.submodule_search_locations:
            return
        module = importlib.util.module_from_spec(spec)
        completed = threading.Event()

        def complete(name: str) -> Any:
            # Runs leptonai/__init__.py in this very module object, once; then answers normally.
            with _lock:
                if not completed.is_set():
                    completed.set()
                    spec.loader.exec_module(module)  # type: ignore[union-attr]
            try:
                return module.__dict__[name]
            except KeyError:
                raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}") from None

        module.__getattr__ = complete  # type: ignore[method-assign]
        sys.modules[PACKAGE] = module
