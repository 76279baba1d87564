"""Send invocations to one destination: check that its library is installed, then call its
module. Takes :class:`~nimctl.export.model.InvocationRuns` and resolved settings
(``nimctl.export.settings.resolve``); gives an :class:`~nimctl.export.report.ExportReport`."""

from __future__ import annotations

import importlib
import importlib.util

from nimctl.common.errors import NimctlError
from nimctl.export.model import InvocationRuns
from nimctl.export.report import ExportReport
from nimctl.export.settings import Destination


def require_library(dest: Destination) -> None:
    """Refuse, with the install command, when the destination's library is not installed."""
    if dest.library and importlib.util.find_spec(dest.library) is None:
        raise NimctlError(
            f"exporting to {dest.value} needs the {dest.library} package, which is not installed",
            hint=f"pip install 'nimctl[{dest.extra}]'",
        )


def export(invocations: list[InvocationRuns], dest: Destination, settings: dict) -> ExportReport:
    require_library(dest)
    module = importlib.import_module(dest.module)
    report: ExportReport = module.export(invocations, settings)
    return report
