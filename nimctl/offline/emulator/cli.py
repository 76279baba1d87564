"""``nimctl emulator serve``: run the Lepton emulator in the foreground for offline rehearsals."""

from __future__ import annotations

import shlex
import signal
import sys
from typing import TextIO

from nimctl.common.errors import NimctlError


def export_lines(env: dict[str, str]) -> list[str]:
    """Shell lines that point nimctl and ``lep`` at the emulator."""
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    workspace_id: str = "ws1",
    token: str | None = None,
    ready_after: float = 2.0,
    job_duration: float = 5.0,
    fault_rate: float = 0.0,
    lost_response_rate: float = 0.0,
    allow_remote: bool = False,
    *,
    queue_time: float = 0.5,
    delete_after: float = 1.0,
    latency: float = 0.0,
    seed: int | None = None,
    error_image_pattern: str | None = None,
    error_name_pattern: str | None = None,
    fail_job_pattern: str | None = None,
    require_secrets: bool = True,
    run_job_images: str | None = None,
    node_groups: list[str] | None = None,
    shapes: list[str] | None = None,
    new_deployment_api: bool = False,
    out: TextIO | None = None,
) -> None:
    """Print the ``export LEPTON_WORKSPACE_*`` lines, then serve until interrupted (Ctrl-C/SIGTERM).

    Refuses a non-loopback ``host`` unless ``allow_remote``: the emulator accepts any spec and
    serves a fixed token, which is not something to expose on a network by accident.
    """
    from nimctl.common.net import is_loopback_host as is_loopback
    from nimctl.offline.emulator.options import EmulatorOptions
    from nimctl.offline.emulator.server import EmulatorServer

    out = out or sys.stdout
    if not is_loopback(host) and not allow_remote:
        raise NimctlError(
            f"refusing to serve the emulator on non-loopback address {host!r}",
            hint="use --host 127.0.0.1, or pass --allow-remote if you really mean it",
        )
    for name, rate in (("fault-rate", fault_rate), ("lost-response-rate", lost_response_rate)):
        if not 0.0 <= rate <= 1.0:
            raise NimctlError(f"--{name} must be between 0 and 1, got {rate}")
    options = EmulatorOptions(
        workspace_id=workspace_id,
        ready_after=ready_after,
        job_duration=job_duration,
        queue_time=queue_time,
        delete_after=delete_after,
        fault_rate=fault_rate,
        lost_response_rate=lost_response_rate,
        latency=latency,
        seed=seed,
        error_image_pattern=error_image_pattern,
        error_name_pattern=error_name_pattern,
        fail_job_pattern=fail_job_pattern,
        require_secrets=require_secrets,
        run_job_images=run_job_images,
        new_deployment_api=new_deployment_api,
    )
    if node_groups:
        pairs = [item.partition("=") for item in node_groups]
        bad = [name for name, sep, group_id in pairs if not (name and sep and group_id)]
        if bad:
            raise NimctlError(
                f"--node-group must be NAME=ID, got {bad[0]!r}", hint="e.g. --node-group h200=h200-ab12cd"
            )
        options.node_groups = {name: group_id for name, _, group_id in pairs}
    if shapes:
        options.shapes = list(dict.fromkeys(shapes))
    if token:
        options.token = token
    server = EmulatorServer(options, host=host, port=port)
    try:
        server.start()
    except OSError as error:
        raise NimctlError(
            f"cannot listen on {host}:{port}: {error.strerror or error}",
            hint="pick another --port, or 0 for a free one",
        ) from None

    def stop(signum: int, frame: object) -> None:
        server.stop()

    # Installed before the exports are printed: whoever reads them may stop us right away.
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for line in export_lines(server.env()):
            print(line, file=out)
        print(
            f"# Lepton emulator for workspace {workspace_id} at {server.base_url}; "
            "admin routes under /_emulator/ (same token). Ctrl-C stops it.",
            file=out,
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
