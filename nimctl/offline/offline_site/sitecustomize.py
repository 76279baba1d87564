"""Put this directory on ``PYTHONPATH`` of a harness run that has no network (``python -m
nimctl.offline.offline_site`` prints it).

spaCy's ``download()`` asks GitHub which version of a model fits before it installs it. IFBench
(``nvidia-ifbench``) calls ``download("en_core_web_sm")`` when it is imported, and never loads
that model; offline the request fails and takes the whole harness down before its first sample.
Here, a ``download()`` that cannot reach the network says so on stderr and returns instead; any
other failure, and every call that has a network, behave as before. Nothing else is changed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any

_MODULE = "spacy.cli.download"


def _offline_tolerant(download: Any) -> Any:
    def download_or_skip(model: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return download(model, *args, **kwargs)
        except OSError as err:  # requests' ConnectionError is an OSError
            sys.stderr.write(
                f"nimctl offline: spaCy could not reach its model index to download {model} "
                f"({type(err).__name__}); skipped\n"
            )
            return None

    download_or_skip.__wrapped__ = download  # type: ignore[attr-defined]
    return download_or_skip


class _SpacyDownloadFinder(importlib.abc.MetaPathFinder):
    """Finds ``spacy.cli.download`` the usual way and wraps its ``download`` once it is loaded,
    before ``spacy.cli`` re-exports it."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_wrap(module: Any) -> None:
            exec_module(module)
            if callable(getattr(module, "download", None)):
                module.download = _offline_tolerant(module.download)

        loader.exec_module = exec_and_wrap  # type: ignore[method-assign]
        return spec


if not any(isinstance(finder, _SpacyDownloadFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _SpacyDownloadFinder())
