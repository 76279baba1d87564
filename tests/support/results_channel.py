"""The log channel as a job prints it: ``emit`` runs the job script's shell functions
(nimctl.results.channel.EMIT_FUNCTIONS) under a real /bin/sh on a results directory and gives
back the lines they print."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nimctl.results.channel import EMIT_FUNCTIONS


def emit(out: Path, status: int = 0) -> list[str]:
    script = f'out="$1"\n{EMIT_FUNCTIONS}nimctl_emit_results {status}\n'
    done = subprocess.run(["/bin/sh", "-c", script, "emit", str(out)], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()
