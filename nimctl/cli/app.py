"""The command line: parse flags, call the modules that do the work, render, set the exit code.

Every heavy import (config validation, the SDK, HTTP clients, rich) happens inside the command
that needs it, so ``nimctl --help`` and ``nimctl validate`` start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from nimctl import __version__
from nimctl.cli.context import RunContext, resolve_state_path
from nimctl.cli.ui import UI
from nimctl.common.errors import NimctlError

if TYPE_CHECKING:
    from nimctl.cli.views import HumanView, JsonView

HELP = {"help_option_names": ["-h", "--help"]}
# Options of the whole program, accepted before the command and (as Terraform users type them)
# after it too: ``nimctl plan --state X`` is ``nimctl --state X plan``. Name -> takes a value.
GLOBAL_OPTIONS = {"--state": True, "--no-color": False}

app = typer.Typer(
    name="nimctl",
    help="Deploy model endpoints on DGX Cloud Lepton or locally, run evaluations against them, "
    "and clean up — declaratively (validate → plan → apply → destroy).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP,
)
state_app = typer.Typer(help="Inspect, edit and move the state.", no_args_is_help=True, context_settings=HELP)
emulator_app = typer.Typer(
    help="A local emulator of the Lepton workspace API.", no_args_is_help=True, context_settings=HELP
)
app.add_typer(state_app, name="state")
app.add_typer(emulator_app, name="emulator")

FILES_HELP = "Config file or directory (repeatable); each file is one stack."
OVERRIDE_HELP = "Override a config value, e.g. -o deployment.port=9000 (repeatable)."


class Globals:
    state: str | None = None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nimctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    state: str = typer.Option(
        None,
        "--state",
        help="State file, or a postgresql://user@host:port/db[?schema=S&state=NAME] URL for a team's "
        "state (env NIMCTL_STATE; default state/nimctl.state.json).",
        envvar="NIMCTL_STATE",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    no_color: bool = typer.Option(False, "--no-color", help="No colour in the output (same as NO_COLOR=1)."),
) -> None:
    Globals.state = state
    if no_color:
        import os

        os.environ["NO_COLOR"] = "1"  # the one colour rule (nimctl.common.terminal) reads it


def _context(lock_timeout: float = 0.0) -> RunContext:
    return RunContext(state_path=resolve_state_path(Globals.state), ui=UI(), lock_timeout=lock_timeout)


def _fail(err: NimctlError, ui: UI | None = None) -> NoReturn:
    from nimctl.common.errors import ConfigError

    ui = ui or UI()
    if isinstance(err, ConfigError):
        ui.err.write(f"{err.message}\n")
        count = getattr(err, "error_count", 0)
        ui.err.write(f"{count} error(s); nothing was changed.\n")
    else:
        ui.error(str(err))
    raise typer.Exit(getattr(err, "exit_code", 1))


def _need_files(files: list[str] | None) -> list[str]:
    if not files:
        raise NimctlError("no config given", hint="pass -f FILE or -f DIRECTORY")
    return files


def _parse_bool(flag: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise NimctlError(f"{flag} takes true or false, not {value!r}")


# -- validate / show-config ----------------------------------------------------------------------


@app.command()
def validate(
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
) -> None:
    """Check config files without touching state or any platform."""
    from nimctl.cli.context import load_stacks

    ui = UI()
    try:
        stacks = load_stacks(_need_files(files), overrides or [], ui)
    except NimctlError as err:
        _fail(err, ui)
    for stack in stacks:
        for job in stack.jobs:
            for note in job.notes:
                ui.info(f"{stack.source_file}: note: {note}")
    ui.success(f"{len(stacks)} stack(s) valid")


@app.command("show-config")
def show_config(
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
) -> None:
    """Print the composed, interpolated config (secrets redacted)."""
    import yaml

    from nimctl.common.secrets import redact_config
    from nimctl.config import load_configs

    ui = UI()
    try:
        loaded = load_configs(_need_files(files), overrides or [])
    except NimctlError as err:
        _fail(err, ui)
    for cfg in loaded:
        if len(loaded) > 1:
            ui.print(f"# {cfg.path} (stack {cfg.stack_name})")
        ui.print(yaml.safe_dump(redact_config(cfg.config), sort_keys=False).rstrip())


# -- plan -----------------------------------------------------------------------------------------


@app.command()
def plan(
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    out: str = typer.Option(None, "--out", help="Save the plan to a file for `nimctl apply FILE`."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 with no changes, 1 on error, 2 with changes."
    ),
    refresh: str = typer.Option("true", "--refresh", help="Read live objects first (true/false)."),
    no_refresh: bool = typer.Option(False, "--no-refresh", help="Same as --refresh=false."),
    targets: list[str] = typer.Option(None, "--target", help="Limit to an address (repeatable)."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show every job's spec in full (default: shared fields once)."
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Plan as `apply --prune`: remove stacks the configs do not name."
    ),
    share_existing: bool = typer.Option(
        False, "--share-existing", help="Plan as `apply --share-existing`: use foreign endpoints as shared."
    ),
) -> None:
    """Show what apply would do. Writes nothing."""
    from nimctl.cli.commands import run_plan

    ctx = _context()
    try:
        do_refresh = _parse_bool("--refresh", refresh) and not no_refresh
        code = run_plan(
            ctx,
            _need_files(files),
            overrides or [],
            json_output=json_output,
            out=out,
            detailed_exitcode=detailed_exitcode,
            refresh=do_refresh,
            targets=targets or [],
            verbose=verbose,
            prune=prune,
            share_existing=share_existing,
        )
    except NimctlError as err:
        _fail(err, ctx.ui)
    raise typer.Exit(code)


# -- apply / destroy ------------------------------------------------------------------------------


@app.command()
def apply(
    plan_file: str = typer.Argument(None, help="A plan saved with `nimctl plan --out`."),
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    json_output: bool = typer.Option(
        False, "--json", help="Events as JSON lines on stdout (needs --auto-approve or a plan file)."
    ),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return once jobs are submitted."),
    keep_on_failure: bool = typer.Option(
        False, "--keep-on-failure", help="Do not remove what this run created when it fails."
    ),
    destroy_after: bool = typer.Option(
        False, "--destroy-after", help="Remove the endpoint once every job has finished."
    ),
    parallelism: int = typer.Option(10, "--parallelism", min=1, max=200, help="Jobs submitted at once."),
    targets: list[str] = typer.Option(None, "--target", help="Limit to an address (repeatable)."),
    replace: list[str] = typer.Option(
        None, "--replace", help="Recreate this endpoint, or run this job again, although nothing changed (repeatable)."
    ),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
    prune: bool = typer.Option(
        False, "--prune", help="The configs are authoritative: also remove stacks of the state they do not name."
    ),
    share_existing: bool = typer.Option(
        False,
        "--share-existing",
        help="Use a live endpoint that is not this state's (same name) without owning it: never modified or deleted.",
    ),
) -> None:
    """Make the platform match the config: deploy, wait until ready, run the evaluation jobs."""
    from nimctl.apply.applier import ApplyOptions, run_apply
    from nimctl.cli.context import load_stacks

    ctx = _context(lock_timeout)
    view = _view(ctx, json_output)
    options = ApplyOptions(
        wait=not no_wait,
        keep_on_failure=keep_on_failure,
        destroy_after=destroy_after,
        parallelism=parallelism,
        targets=targets or [],
        replace=replace or [],
        prune=prune,
        share_existing=share_existing,
    )
    try:
        if plan_file and files:
            raise NimctlError("give either a plan file or -f configs, not both")
        if plan_file and replace:
            raise NimctlError("--replace applies to -f configs: a saved plan already says what it replaces")
        if not plan_file:
            _need_files(files)
        if json_output and not (auto_approve or plan_file):
            raise NimctlError(
                "--json cannot ask for confirmation", hint="add --auto-approve, or apply a saved plan file"
            )
        approve = _approver(
            ctx.ui,
            auto_approve or bool(plan_file),  # the saved plan was the review: no second prompt
            "Do you want to perform these actions? Only 'yes' will be accepted.",
            "apply needs confirmation but there is no terminal to ask on",
            "review `nimctl plan`, then run `nimctl apply --auto-approve`",
        )
        stacks = load_stacks(files or [], overrides or [], view) if not plan_file else None
        code = run_apply(
            ctx,
            stacks,
            options,
            view,
            approve,
            plan_file=plan_file,
            config_files=files or None,
            after_jobs=auto_export_hook(ctx),
        )
    except NimctlError as err:
        _fail_run(err, ctx.ui, view, "apply")
    raise typer.Exit(code)


@app.command()
def destroy(
    invocation: str = typer.Argument(None, help="Invocation id (a unique prefix is enough)."),
    files: list[str] = typer.Option(None, "-f", "--file", help="Destroy these configs' stacks."),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
    all_: bool = typer.Option(False, "--all", help="Destroy everything in the state."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    json_output: bool = typer.Option(False, "--json", help="Events as JSON lines on stdout (needs --auto-approve)."),
    force: bool = typer.Option(False, "--force", help="Also remove an endpoint another invocation uses."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Remove what an invocation (or a config, or everything) left running."""
    from nimctl.apply.destroy import DestroyOptions, run_destroy
    from nimctl.cli.context import load_stacks

    ctx = _context(lock_timeout)
    view = _view(ctx, json_output)
    try:
        chosen = sum(bool(x) for x in (invocation, files, all_))
        if chosen != 1:
            raise NimctlError("say what to destroy: an INVOCATION_ID, -f FILE, or --all (exactly one)")
        if json_output and not auto_approve:
            raise NimctlError("--json cannot ask for confirmation", hint="add --auto-approve")
        options = DestroyOptions(invocation=invocation, all=all_, force=force)
        stack_names = {s.name for s in load_stacks(files, overrides or [], view)} if files else None
        approve = _approver(
            ctx.ui,
            auto_approve,
            "Do you really want to destroy these resources? Only 'yes' will be accepted.",
            "destroy needs confirmation but there is no terminal to ask on",
            "run it again with --auto-approve",
        )
        code = run_destroy(ctx, options, view, approve, stack_names=stack_names)
    except NimctlError as err:
        _fail_run(err, ctx.ui, view, "destroy")
    raise typer.Exit(code)


def auto_export_hook(ctx: RunContext) -> Callable[[str, Any, Any], None]:
    """What apply runs once its jobs have finished: the exports ``execution.auto_export`` asks for."""

    def hook(invocation_id: str, state: Any, events: Any) -> None:
        from nimctl.export.auto import destinations_of

        if not destinations_of(state, invocation_id):
            return  # nothing imported for the (usual) config without auto_export
        from nimctl.cli.exporting import export_events

        for event in export_events(ctx, state, invocation_id):
            events.emit(event)

    return hook


def _view(ctx: RunContext, json_output: bool) -> HumanView | JsonView:
    from nimctl.cli.views import HumanView, JsonView

    return JsonView(ctx.ui.out) if json_output else HumanView(ctx.ui)


def _approver(ui: UI, auto_approve: bool, question: str, no_tty: str, hint: str) -> Callable[[], bool]:
    """The one question apply and destroy ask, on the terminal (Terraform's rule: only ``yes``)."""

    def approve() -> bool:
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise NimctlError(no_tty, hint=hint)
        return ui.confirm(question)

    return approve


def _fail_run(err: NimctlError, ui: UI, view: HumanView | JsonView, command: str) -> NoReturn:
    """An error that ended apply/destroy before its engine reported the outcome."""
    from nimctl.apply.events import ApplyComplete, DestroyComplete, ErrorMessage, Outcome, RunStart
    from nimctl.cli.views import JsonView

    if not isinstance(view, JsonView):
        _fail(err, ui)
    code = getattr(err, "exit_code", 1)
    if not view.started:
        view.emit(RunStart(command, None, __version__))
    view.emit(ErrorMessage(err.message, err.hint))
    complete = ApplyComplete if command == "apply" else DestroyComplete
    view.emit(complete(Outcome.FAILED, code, None))
    raise typer.Exit(code)


# -- inspection -----------------------------------------------------------------------------------


@app.command()
def status(
    invocation: str = typer.Argument(None, help="Invocation id or unique prefix (default: all)."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Invocations with their resources and live states."""
    from nimctl.cli.commands import run_status

    ctx = _context()
    try:
        raise typer.Exit(run_status(ctx, invocation, json_output=json_output))
    except NimctlError as err:
        _fail(err, ctx.ui)


@app.command()
def gc(
    names: list[str] = typer.Argument(
        None, help="Also remove these (names or job ids), though another state records them."
    ),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    older_than: str = typer.Option(None, "--older-than", help="Only objects at least this old (e.g. 6h, 2d)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List only; remove nothing."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Find endpoints and jobs nimctl made that no state records (lost or deleted state files) and remove them."""
    from nimctl.cli.commands import run_gc

    ctx = _context(lock_timeout)
    try:
        code = run_gc(
            ctx, names or [], auto_approve=auto_approve, older_than=older_than, dry_run=dry_run, json_output=json_output
        )
    except NimctlError as err:
        _fail(err, ctx.ui)
    raise typer.Exit(code)


@app.command()
def results(
    invocations: list[str] = typer.Argument(..., help="Invocation id(s) or unique prefixes."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    compare: bool = typer.Option(
        False, "--compare", help="Compare runs side by side (implied by several ids; with one, its stacks)."
    ),
) -> None:
    """The evaluation results of an invocation, or several runs compared: tasks as rows, runs as
    columns, each score with its difference to the first column."""
    ctx = _context()
    try:
        if compare or len(invocations) > 1:
            from nimctl.cli.exporting import run_compare

            raise typer.Exit(run_compare(ctx, invocations, json_output=json_output))
        from nimctl.cli.commands import run_results

        raise typer.Exit(run_results(ctx, invocations[0], json_output=json_output))
    except NimctlError as err:
        _fail(err, ctx.ui)


@app.command()
def export(
    invocations: list[str] = typer.Argument(..., help="Invocation id(s) or unique prefixes."),
    dest: str = typer.Option("local", "--dest", help="Where to: local (JSON/CSV files), mlflow or wandb."),
    fmt: str = typer.Option(None, "--format", help="json or csv (--dest local)."),
    overrides: list[str] = typer.Option(
        None, "-o", "--override", help="A setting, e.g. -o export.mlflow.tracking_uri=http://127.0.0.1:5000."
    ),
    config: str = typer.Option(
        None, "--config", help="Take export.<dest> from this YAML file instead of each run's own config."
    ),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Send invocations' results to MLflow, Weights & Biases or summary files, configured like the
    launcher's export.<dest> blocks. Exporting again updates the same runs."""
    from nimctl.cli.exporting import run_export

    ctx = _context()
    try:
        code = run_export(
            ctx,
            invocations,
            dest=dest,
            fmt=fmt,
            overrides=overrides or [],
            config=config,
            json_output=json_output,
        )
    except NimctlError as err:
        _fail(err, ctx.ui)
    raise typer.Exit(code)


@app.command()
def logs(
    invocation: str = typer.Argument(..., help="Invocation id or unique prefix."),
    task: str = typer.Option(None, "--task", help="A task's job logs."),
    endpoint: bool = typer.Option(False, "--endpoint", help="The endpoint's logs."),
    lines: int = typer.Option(200, "--lines", "-n", help="How many lines at most."),
) -> None:
    """Recent logs of an invocation's endpoint or jobs, through the platform's log API."""
    from nimctl.cli.commands import run_logs

    ctx = _context()
    try:
        raise typer.Exit(run_logs(ctx, invocation, task=task, endpoint=endpoint, lines=lines))
    except NimctlError as err:
        _fail(err, ctx.ui)


@app.command()
def tasks(
    pattern: str = typer.Argument(None, help="Only tasks whose harness.task name contains this (case-insensitive)."),
    json_output: bool = typer.Option(False, "--json", help='{"tasks": [...]} with the keys of `nel ls tasks --json`.'),
) -> None:
    """The evaluation tasks nimctl knows: the NeMo Evaluator launcher's, and nimctl's built-ins."""
    from nimctl.cli.tasklist import run_tasks

    raise typer.Exit(run_tasks(UI(), pattern, json_output=json_output))


@app.command()
def show(json_output: bool = typer.Option(False, "--json", help="The state as JSON.")) -> None:
    """Resources and invocations recorded in the state file."""
    from nimctl.cli.commands import run_show

    ctx = _context()
    try:
        raise typer.Exit(run_show(ctx, json_output=json_output))
    except NimctlError as err:
        _fail(err, ctx.ui)


@state_app.command("list")
def state_list() -> None:
    """The addresses recorded in the state."""
    ctx = _context()
    try:
        for address in sorted(ctx.store.read().resources):
            ctx.ui.print(address)
    except NimctlError as err:
        _fail(err, ctx.ui)


@state_app.command("show")
def state_show(
    address: str = typer.Argument(..., help="The address to show (see `nimctl state list`)."),
    json_output: bool = typer.Option(False, "--json", help="The record as JSON."),
) -> None:
    """One resource as the state records it (specs are redacted)."""
    from nimctl.cli.outputs import run_state_show

    ctx = _context()
    try:
        raise typer.Exit(run_state_show(ctx, address, json_output=json_output))
    except NimctlError as err:
        _fail(err, ctx.ui)


@app.command()
def output(
    name: str = typer.Argument(None, help="STACK, or STACK.KEY for one value (endpoint, url, model_id, ...)."),
    json_output: bool = typer.Option(False, "--json", help="As JSON."),
) -> None:
    """Endpoint URLs and model ids from the state, for people and scripts (no platform call)."""
    from nimctl.cli.outputs import run_output

    ctx = _context()
    try:
        raise typer.Exit(run_output(ctx, name, json_output=json_output))
    except NimctlError as err:
        _fail(err, ctx.ui)


@state_app.command("rm")
def state_rm(
    address: str = typer.Argument(..., help="Address to forget (the object keeps running)."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Forget a resource without destroying it (a backup of the state is kept)."""
    from nimctl.state.remove import state_rm as remove

    ctx = _context()
    try:
        record = remove(ctx.store, address, lock_timeout=lock_timeout)
    except NimctlError as err:
        _fail(err, ctx.ui)
    ctx.ui.print(
        f"Removed {address} from the state; {record.type} {record.name} still exists on "
        f"{record.provider} and is no longer managed."
    )


@state_app.command("history")
def state_history(
    limit: int = typer.Option(20, "--limit", "-n", help="How many versions to list (newest first)."),
    serial: int = typer.Option(None, "--serial", help="Print the state as it was at this serial (JSON)."),
) -> None:
    """The kept versions of the state (a state in PostgreSQL keeps every serial)."""
    import json

    from nimctl.state.backend import StateHistory

    ctx = _context()
    try:
        store = ctx.store
        if not isinstance(store, StateHistory):
            raise NimctlError(
                f"the state file {store.location} keeps only its previous version ({store.location}.backup)",
                hint="a state in PostgreSQL keeps every version: nimctl --state postgresql://... state push FILE",
            )
        if serial is not None:
            ctx.ui.print(json.dumps(store.read_version(serial).to_dict(), indent=2))
            return
        versions = store.versions(limit)
        if not versions:
            ctx.ui.print(f"The state at {store.location} has no versions yet.")
            return
        ctx.ui.table(
            ["serial", "kind", "written at", "by", "what"],
            [[str(v.serial), v.kind, v.written_at, v.written_by, v.summary] for v in versions],
        )
    except NimctlError as err:
        _fail(err, ctx.ui)


@state_app.command("push")
def state_push(
    source: str = typer.Argument(..., help="The state file to upload into --state / NIMCTL_STATE."),
    force: bool = typer.Option(False, "--force", help="Replace another or a newer state."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Make the state at --state (e.g. PostgreSQL) hold the state in SOURCE."""
    from nimctl.state.backend import open_state
    from nimctl.state.transfer import copy_state

    ctx = _context()
    try:
        state = copy_state(open_state(source), ctx.store, command="state push", force=force, lock_timeout=lock_timeout)
    except NimctlError as err:
        _fail(err, ctx.ui)
    ctx.ui.print(
        f"Pushed {source} to {ctx.state_location}: {len(state.resources)} resource(s), "
        f"lineage {state.lineage}, serial {state.serial}."
    )


@state_app.command("pull")
def state_pull(
    target: str = typer.Argument("-", help="The state file to write (default '-': print the state as JSON)."),
    force: bool = typer.Option(False, "--force", help="Replace another or a newer state."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Copy the state at --state (e.g. PostgreSQL) into TARGET, a state file."""
    import json

    from nimctl.state.backend import open_state
    from nimctl.state.transfer import copy_state

    ctx = _context()
    try:
        if target == "-":
            ctx.ui.print(json.dumps(ctx.store.read().to_dict(), indent=2))
            return
        state = copy_state(ctx.store, open_state(target), command="state pull", force=force, lock_timeout=lock_timeout)
    except NimctlError as err:
        _fail(err, ctx.ui)
    ctx.ui.print(
        f"Pulled {ctx.state_location} into {target}: {len(state.resources)} resource(s), "
        f"lineage {state.lineage}, serial {state.serial}."
    )


@app.command("force-unlock")
def force_unlock(lock_id: str = typer.Argument(..., help="The lock id shown by the lock error.")) -> None:
    """Remove a state lock that cannot be verified (e.g. on a network filesystem)."""
    ctx = _context()
    try:
        ctx.store.force_unlock(lock_id)
    except NimctlError as err:
        _fail(err, ctx.ui)
    ctx.ui.print(f"Lock {lock_id} removed.")


# -- helpers to rehearse offline ------------------------------------------------------------------


@emulator_app.command("serve")
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
        _fail(err)


@app.command(
    "mock-server", add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def mock_server(ctx: typer.Context) -> None:
    """Run nimctl's mock OpenAI-compatible server (see `nimctl mock-server --help`)."""
    from nimctl.offline.mock_server import main as mock_main

    mock_main(list(ctx.args))


def hoist_global_options(argv: list[str]) -> list[str]:
    """``argv`` (without the program name) with the global options found after the command moved
    before it. Stops at ``--``; leaves ``mock-server``'s arguments alone (they are its own)."""
    commands = [i for i, a in enumerate(argv) if not a.startswith("-")]
    if not commands or argv[commands[0]] == "mock-server":
        return argv
    first = commands[0]
    if first > 0 and argv[first - 1] in [o for o, takes in GLOBAL_OPTIONS.items() if takes]:
        # the first bare word is a global option's value: the command is the next bare word
        later = [i for i in commands if i > first]
        if not later or argv[later[0]] == "mock-server":
            return argv
        first = later[0]
    head, rest, moved = list(argv[:first]), [], []
    i = first
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            moved.extend(argv[i : i + (2 if takes_value else 1)])
            i += 2 if takes_value else 1
            continue
        rest.append(arg)
        i += 1
    return head + moved + rest


def main() -> None:
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="nimctl")
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
