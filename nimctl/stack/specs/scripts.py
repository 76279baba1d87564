"""The shell scripts nimctl runs in a container, and the argv that run them.

Gives ``JOB_SCRIPT`` (every job: the harness path or a built-in's / ``command:`` task's argv,
under the task's time limit) with ``RUN_EVAL_COMMAND`` / ``job_script_command``, and
``WRAPPED_COMMAND_SCRIPT`` (a model server's argv after the runtime env and its pre command) with
``wrapped_command``.

User strings reach a job only as data (env var values, the run config document, argv items),
never as part of a shell line: the scripts' texts are constants.
"""

from __future__ import annotations

from nimctl.results.channel import EMIT_FUNCTIONS

# runtime:VAR env values: NIMCTL_RUNTIME_ENV holds "TARGET=VAR" lines (names checked when the
# config is read); each TARGET is exported with VAR's value in the container, as the job starts.
RUNTIME_ENV_PRELUDE = """\
if [ -n "${NIMCTL_RUNTIME_ENV:-}" ]; then
  while IFS='=' read -r nimctl_target nimctl_source; do
    if [ -n "$nimctl_target" ]; then
      nimctl_value=$(printenv "$nimctl_source" || true)
      export "$nimctl_target=$nimctl_value"
    fi
  done <<NIMCTL_EOF
$NIMCTL_RUNTIME_ENV
NIMCTL_EOF
fi
"""
# Runs the server's (or a task's) own argv after the runtime env and the optional pre command
# (NIMCTL_SERVER_PRE_CMD, the user's shell code, from a file): the argv follows as "$@".
WRAPPED_COMMAND_SCRIPT = (
    RUNTIME_ENV_PRELUDE
    + """\
if [ -n "${NIMCTL_SERVER_PRE_CMD:-}" ]; then
  printf '%s\\n' "$NIMCTL_SERVER_PRE_CMD" > /tmp/nimctl_pre_cmd.sh
  . /tmp/nimctl_pre_cmd.sh
fi
exec "$@"
"""
)
# The one shell script every job runs (user strings reach it only as data: env values and argv
# items, never as part of its text). With arguments it runs them (a built-in or `command:` task);
# without, the harness path: it writes the run config (passed in NIMCTL_RUN_CONFIG) to a file and
# hands that file to the NeMo Evaluator, between the optional pre/post commands (the user's own
# shell code by definition; they too travel as data and run from files). The task's time limit
# (NIMCTL_TASK_TIMEOUT_S) bounds the evaluation; a run it stops leaves "nimctl_timed_out" in the
# output directory. With NIMCTL_RESULTS_TO_LOG set (Lepton) it ends by printing its small result
# files into its log, on success and failure alike (nimctl.results.channel).
JOB_SCRIPT = (
    """\
out="${NIMCTL_OUTPUT_DIR:-/results}"
mkdir -p "$out"
rm -f "$out/nimctl_timed_out"
nimctl_limited() {
  limit="${NIMCTL_TASK_TIMEOUT_S:-}"
  if [ -z "$limit" ] || ! command -v timeout >/dev/null 2>&1; then "$@"; return $?; fi
  started=$(date +%s)
  rc=0
  timeout -k 30 "$limit" "$@" || rc=$?
  if { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && [ $(( $(date +%s) - started )) -ge "$limit" ]; then
    echo "nimctl: the evaluation ran into its time limit of $limit s and was stopped" >&2
    : > "$out/nimctl_timed_out"
  fi
  return "$rc"
}
nimctl_harness() (
  set -eu
  cfg="$out/nimctl_run_config.yaml"
  printf '%s' "$NIMCTL_RUN_CONFIG" > "$cfg"
  if [ -n "${NIMCTL_PRE_CMD:-}" ]; then
    printf '%s\\n' "$NIMCTL_PRE_CMD" > "$out/nimctl_pre_cmd.sh"
    . "$out/nimctl_pre_cmd.sh"
  fi
  runner=eval-factory
  if command -v nemo-evaluator >/dev/null 2>&1; then runner=nemo-evaluator; fi
  status=0
  nimctl_limited "$runner" run_eval --run_config "$cfg" || status=$?
  if [ -n "${NIMCTL_POST_CMD:-}" ]; then
    printf '%s\\n' "$NIMCTL_POST_CMD" > "$out/nimctl_post_cmd.sh"
    post_status=0
    sh "$out/nimctl_post_cmd.sh" || post_status=$?
    if [ "$status" -eq 0 ]; then status=$post_status; fi
  fi
  exit "$status"
)
"""
    + EMIT_FUNCTIONS
    + """\
status=0
if [ "$#" -gt 0 ]; then
  nimctl_limited "$@" || status=$?
else
  nimctl_harness
  status=$?
fi
if [ -n "${NIMCTL_RESULTS_TO_LOG:-}" ]; then nimctl_emit_results "$status"; fi
exit "$status"
"""
)
JOB_SCRIPT_NAME = "nimctl-job"  # $0 of the script (what `ps` shows)
RUN_EVAL_COMMAND = ("/bin/sh", "-c", JOB_SCRIPT, JOB_SCRIPT_NAME)


def job_script_command(argv: list[str]) -> list[str]:
    """A built-in's or `command:` task's argv, run by JOB_SCRIPT (time limit, results to the log)."""
    return [*RUN_EVAL_COMMAND, *argv]


def wrapped_command(argv: list[str]) -> list[str]:
    """``argv`` run by WRAPPED_COMMAND_SCRIPT (runtime env, server pre command, then exec)."""
    return ["/bin/sh", "-c", WRAPPED_COMMAND_SCRIPT, "nimctl", *argv]
