"""``nimctl emulator serve``: flags → ``nimctl.offline.emulator.cli.serve``, an emulated Lepton
workspace on loopback to rehearse a Lepton config offline."""

from __future__ import annotations

import typer

from nimctl.cli.common import HELP, fail
from nimctl.common.errors import NimctlError

app = typer.Typer(help="A local emulator of the Lepton workspace API.", no_args_is_help=True, context_settings=HELP)


@app.command("serve")
def emulator_serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(0, "--port", help="Port (0 picks a free one)."),
    workspace_id: str = typer.Option("ws1", "--workspace-id"),
    token: str = typer.Option(None, "--token", help="Bearer token (random by default)."),
    ready_after: float = typer.Option(5.0, "--ready-after", help="Seconds until an endpoint is Ready."),
    job_duration: float = typer.Option(10.0, "--job-duration", help="Seconds a job runs."),
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=1.0, help="Share of requests answered 429/5xx."),
    lost_response_rate: float = typer.Option(
        0.0, "--lost-response-rate", min=0.0, max=1.0, help="Share of writes applied but answered 502."
    ),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback --host."),
    error_image_pattern: str = typer.Option(
        None, "--error-image-pattern", help="Endpoints whose image matches this regex go to Error."
    ),
    fail_job_pattern: str = typer.Option(None, "--fail-job-pattern", help="Jobs whose name matches this regex fail."),
    require_secrets: bool = typer.Option(
        True,
        "--require-secrets/--no-require-secrets",
        help="Fail replicas that reference a missing secret, as Lepton does (on by default).",
    ),
    node_group: list[str] = typer.Option(
        [], "--node-group", help="A dedicated node group NAME=ID (repeat for several; replaces the default one)."
    ),
    shape: list[str] = typer.Option(
        [], "--shape", help="A resource shape the workspace offers (repeat; replaces the default list)."
    ),
    new_deployment_api: bool = typer.Option(
        False, "--new-deployment-api", help="Set features.enable_new_deployment_api: the SDK then uses /endpoints."
    ),
    run_job_images: str = typer.Option(
        None,
        "--run-job-images",
        help="Jobs whose image matches this regex run their command here for real, e.g. '^python:' "
        "for max_lifetime's deletion job.",
    ),
) -> None:
    """Serve an emulated Lepton workspace on loopback, to rehearse a Lepton config offline."""
    from nimctl.offline.emulator.cli import serve

    try:
        serve(
            host=host,
            port=port,
            workspace_id=workspace_id,
            token=token,
            ready_after=ready_after,
            job_duration=job_duration,
            fault_rate=fault_rate,
            lost_response_rate=lost_response_rate,
            allow_remote=allow_remote,
            error_image_pattern=error_image_pattern,
            fail_job_pattern=fail_job_pattern,
            require_secrets=require_secrets,
            run_job_images=run_job_images,
            node_groups=node_group,
            shapes=shape,
            new_deployment_api=new_deployment_api,
        )
    except NimctlError as err:
        fail(err)
