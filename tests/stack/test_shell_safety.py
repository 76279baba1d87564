"""No user string is ever part of a shell line: run configs and pre/post commands travel as
data (env values) and the command every harness job runs is one constant. The local tests
execute that constant with a stand-in `nemo-evaluator` to prove values arrive byte-exact."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from nimctl.stack.builder import render_job_spec
from nimctl.stack.specs.scripts import JOB_SCRIPT, RUN_EVAL_COMMAND
from tests.support.stack_configs import build, seed_config

NASTY = [
    "it's",
    'say "hi"',
    "$(touch PWNED)",
    "`touch PWNED`",
    "a\nb\n\nc  ",
    "${HOME} $PATH \\ \\n %s %%",
    "'; touch PWNED; echo '",
    "ünïcødé ✓ \t tab",
    "--- not: yaml\n- [x",
]


def nasty_config(execution: str) -> dict:
    config = seed_config()
    config["deployment"]["served_model_name"] = "org/model \"q\" 'x' $(touch PWNED)"
    config["evaluation"]["tasks"] = [
        {
            "name": "ifeval",
            "nemo_evaluator_config": {"config": {"params": {"extra": {f"k{i}": v for i, v in enumerate(NASTY)}}}},
            "env_vars": {"USER_VALUE": NASTY[6]},
        }
    ]
    if execution == "local":
        config["execution"] = {"type": "local", "output_dir": "results", "local": {"readiness_timeout": 5}}
        config["deployment"] = {"type": "none"}
        config["target"] = {
            "api_endpoint": {
                "url": "http://127.0.0.1:9/v1/chat/completions",
                "model_id": "org/model \"q\" 'x' $(touch PWNED)",
            }
        }
    return config


def test_lepton_command_is_the_constant_whatever_the_values() -> None:
    job = build(nasty_config("lepton")).jobs[0]
    _, spec = render_job_spec(job, invocation_id="0123456789abcdef", endpoint_url="https://e.example")
    assert spec["container"]["command"] == list(RUN_EVAL_COMMAND)
    for value in NASTY:
        assert value not in JOB_SCRIPT
    env = {e["name"]: e.get("value") for e in spec["envs"]}
    document = yaml.safe_load(env["NIMCTL_RUN_CONFIG"])
    assert list(document["config"]["params"]["extra"].values()) == NASTY
    assert document["target"]["api_endpoint"]["model_id"] == "org/model \"q\" 'x' $(touch PWNED)"
    assert env["USER_VALUE"] == NASTY[6]


def test_the_script_has_no_placeholders_to_fill() -> None:
    import re

    # Only shell syntax: no Python format field ({name}) left unfilled, nothing but the constant.
    assert not re.search(r"(?<![$])\{[A-Za-z_][A-Za-z0-9_]*\}", JOB_SCRIPT)
    assert RUN_EVAL_COMMAND == ("/bin/sh", "-c", JOB_SCRIPT, "nimctl-job")


@pytest.fixture
def fake_evaluator(tmp_path: Path) -> Path:
    """A `nemo-evaluator` that copies the run config it was given and exits with $FAKE_EXIT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nemo-evaluator"
    script.write_text(
        '#!/bin/sh\n[ "$1" = run_eval ] && [ "$2" = --run_config ] || exit 64\n'
        'cp "$3" "$NIMCTL_OUTPUT_DIR/seen_run_config.yaml"\n'
        'printf "%s" "${GREETING:-}" > "$NIMCTL_OUTPUT_DIR/seen_greeting.txt"\n'
        'exit "${FAKE_EXIT:-0}"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def run_local_job(
    config: dict, tmp_path: Path, bin_dir: Path, extra_env: dict | None = None
) -> tuple[subprocess.CompletedProcess, dict]:
    cwd = os.getcwd()
    os.chdir(tmp_path)  # output_dir "results" is resolved against the working directory
    try:
        job = build(config).jobs[0]
        _, spec = render_job_spec(job, invocation_id="0123456789abcdef", endpoint_url=None)
    finally:
        os.chdir(cwd)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", **spec["env"], **(extra_env or {})}
    result = subprocess.run(spec["command"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=20)
    return result, spec


def test_values_reach_the_evaluator_byte_exact(tmp_path: Path, fake_evaluator: Path) -> None:
    config = nasty_config("local")
    result, spec = run_local_job(config, tmp_path, fake_evaluator)
    assert result.returncode == 0, result.stderr
    output_dir = Path(spec["output_dir"])
    assert output_dir == tmp_path / "results" / "0123456789abcdef" / "ifeval"
    seen = (output_dir / "seen_run_config.yaml").read_bytes()
    assert seen == spec["env"]["NIMCTL_RUN_CONFIG"].encode()
    document = yaml.safe_load(seen)
    assert list(document["config"]["params"]["extra"].values()) == NASTY
    assert document["config"]["output_dir"] == str(output_dir)
    assert document["target"]["api_endpoint"]["url"] == "http://127.0.0.1:9/v1/chat/completions"
    assert not list(tmp_path.rglob("PWNED"))


def test_pre_and_post_commands_run_as_written(tmp_path: Path, fake_evaluator: Path) -> None:
    config = nasty_config("local")
    task = config["evaluation"]["tasks"][0]
    task["pre_cmd"] = 'export GREETING="it\'s \\"quoted\\" \\$(not run)"\n'
    task["post_cmd"] = 'printf \'%s\' "post saw $GREETING" > "$NIMCTL_OUTPUT_DIR/post.txt"'
    result, spec = run_local_job(config, tmp_path, fake_evaluator)
    assert result.returncode == 0, result.stderr
    output_dir = Path(spec["output_dir"])
    assert (output_dir / "nimctl_pre_cmd.sh").read_text() == task["pre_cmd"] + "\n"
    assert (output_dir / "seen_greeting.txt").read_text() == 'it\'s "quoted" $(not run)'
    # post runs after the evaluation and sees what pre exported
    assert (output_dir / "post.txt").read_text() == 'post saw it\'s "quoted" $(not run)'
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize(
    ("evaluator_exit", "post_cmd", "expected"),
    [
        (3, None, 3),
        (0, "exit 5", 5),
        (2, "exit 5", 2),  # the evaluation's own failure is the one reported
    ],
)
def test_exit_status_is_the_evaluations(
    tmp_path: Path, fake_evaluator: Path, evaluator_exit: int, post_cmd: str | None, expected: int
) -> None:
    config = nasty_config("local")
    if post_cmd:
        config["evaluation"]["tasks"][0]["post_cmd"] = post_cmd
    result, _ = run_local_job(config, tmp_path, fake_evaluator, {"FAKE_EXIT": str(evaluator_exit)})
    assert result.returncode == expected


def test_timeout_is_enforced_when_configured(tmp_path: Path, fake_evaluator: Path) -> None:
    (fake_evaluator / "nemo-evaluator").write_text("#!/bin/sh\nsleep 30\n")
    config = nasty_config("local")
    config["execution"]["evaluation_tasks"] = {"timeout": 1}
    result, spec = run_local_job(config, tmp_path, fake_evaluator)
    assert spec["env"]["NIMCTL_TASK_TIMEOUT_S"] == "1"
    assert result.returncode == 124  # coreutils timeout
