"""Secrets never reach the state, its backup, plan files, logs or any CLI output.

Unique values are planted in every place a secret can enter nimctl: literal endpoint api tokens,
literal values of secret-looking env vars (endpoint envs, task env_vars, shared task env_vars),
secret references resolved from nimctl's environment (local platform), the readiness probe's
token variable (token_name_ref), LEPTON_WORKSPACE_TOKEN, and a wrong workspace token that the
platform refuses. A full lifecycle runs (validate, show-config, plan text/JSON/saved, apply of the
saved plan, status, show, results, logs, a failing apply, destroy), and every byte of output and
every file nimctl wrote is searched: zero hits. State and plan files are mode 0600.
"""

from __future__ import annotations

import secrets as pysecrets
import stat
from pathlib import Path

import pytest

from tests.support.cli import Result
from tests.support.reliability.harness import LOCAL_QUICKSTART, LeptonSandbox, LocalSandbox, nimctl

pytestmark = pytest.mark.timeout(300)


def planted(label: str) -> str:
    return f"plant-{label}-{pysecrets.token_hex(8)}"


class Hunt:
    """Every output of every command, and every file written, searched for the planted values."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.results: list[Result] = []

    def keep(self, result: Result) -> Result:
        self.results.append(result)
        return result

    def hits(self, roots: list[Path], skip: set[Path]) -> list[str]:
        found = []
        for result in self.results:
            for label, value in self.values.items():
                if value in result.text:
                    found.append(f"{label} in the output of `nimctl {' '.join(result.args)}`")
        for root in roots:
            for path in sorted(root.rglob("*")):
                if not path.is_file() or path in skip or path.is_fifo():
                    continue
                data = path.read_bytes()
                for label, value in self.values.items():
                    if value.encode() in data:
                        found.append(f"{label} in {path}")
        return found


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def lepton_config(values: dict[str, str]) -> str:
    return f"""defaults:
  - execution: lepton/default
  - deployment: nim
  - _self_
execution:
  output_dir: results/secrets
  lepton_platform:
    tasks:
      env_vars:
        SHARED_API_KEY: {values["shared_task_env"]}
deployment:
  image: nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6
  served_model_name: meta/llama-3.1-8b-instruct
  lepton_config:
    endpoint_name: secrets-hunt
    resource_shape: gpu.1xh200
    min_replicas: 1
    max_replicas: 1
    api_tokens:
      - value: {values["literal_api_token"]}
      - value_from:
          token_name_ref: PROBE_TOKEN_VAR
    envs:
      DB_PASSWORD: {values["endpoint_env"]}
      HF_TOKEN:
        value_from:
          secret_name_ref: HUGGING_FACE_HUB_TOKEN
evaluation:
  tasks:
    - name: ifeval
      env_vars:
        TASK_SECRET: {values["task_env"]}
    - name: gsm8k
"""


def test_no_planted_secret_anywhere_in_a_lepton_lifecycle(lepton, tmp_path):
    values = {
        name: planted(name)
        for name in (
            "literal_api_token",
            "endpoint_env",
            "task_env",
            "shared_task_env",
            "probe_token",
            "wrong_workspace_token",
        )
    }
    sandbox = LeptonSandbox(tmp_path / "box", lepton, config=tmp_path / "secrets.yaml", tasks=2)
    sandbox.config.write_text(lepton_config(values))
    lepton.world.create_secrets([{"name": "PROBE_TOKEN_VAR", "value": values["probe_token"]}])
    sandbox.env["PROBE_TOKEN_VAR"] = values["probe_token"]
    values["workspace_token"] = lepton.token
    hunt = Hunt(values)
    config = str(sandbox.config)
    plan_file = sandbox.root / "saved.plan"

    for args in (
        ["validate", "-f", config],
        ["show-config", "-f", config],
        ["plan", "-f", config],
        ["plan", "-f", config, "--json"],
        ["plan", "-f", config, "--out", str(plan_file)],
    ):
        assert hunt.keep(sandbox.run(*args)).code == 0, hunt.results[-1].describe()
    applied = hunt.keep(sandbox.run("apply", str(plan_file), "--auto-approve"))
    assert applied.code == 0, applied.describe()
    assert "probe skipped" not in applied.text  # the probe really used the token variable
    # The hunt is not vacuous: the values did reach the platform, where they belong.
    sent = repr(lepton.world.deployments()) + repr(lepton.world.jobs())
    assert all(values[k] in sent for k in ("literal_api_token", "endpoint_env", "task_env", "shared_task_env"))
    inv = next(line.split(": ", 1)[1] for line in applied.out.splitlines() if line.startswith("Invocation: "))
    for args in (
        ["apply", "-f", config, "--auto-approve"],
        ["status"],
        ["status", "--json"],
        ["show"],
        ["show", "--json"],
        ["results", inv, "--json"],
        ["logs", inv, "--endpoint"],
        ["logs", inv, "--task", "ifeval"],
        ["state", "list"],
        ["plan", "-f", config, "--detailed-exitcode"],
    ):
        assert hunt.keep(sandbox.run(*args)).code == 0, hunt.results[-1].describe()

    # Failing commands: a refused workspace token, a job that fails, an endpoint that never gets ready.
    refused = hunt.keep(sandbox.run("status", LEPTON_WORKSPACE_TOKEN=values["wrong_workspace_token"]))
    assert refused.code == 1 and "credentials" in refused.err, refused.describe()
    lepton.configure(fail_job_pattern="gsm8k")
    failed = hunt.keep(
        sandbox.run(
            "apply",
            "-f",
            config,
            "--auto-approve",
            "-o",
            "evaluation.tasks.1.nemo_evaluator_config={config: {params: {limit_samples: 5}}}",
        )
    )
    assert failed.code == 1, failed.describe()
    lepton.configure(fail_job_pattern=None, error_image_pattern=":9.9.9")
    broken = hunt.keep(
        sandbox.run(
            "apply",
            "-f",
            config,
            "--auto-approve",
            "-o",
            "deployment.image=nvcr.io/nim/meta/llama-3.1-8b-instruct:9.9.9",
        )
    )
    assert broken.code == 1, broken.describe()
    lepton.configure(error_image_pattern=None)
    for args in (["destroy", inv, "--auto-approve"], ["destroy", "--all", "--auto-approve"]):
        assert hunt.keep(sandbox.run(*args)).code == 0, hunt.results[-1].describe()

    assert hunt.hits([sandbox.root], skip={sandbox.config}) == []
    assert len(hunt.results) >= 20
    for path in (sandbox.state_path, sandbox.state_path.with_name("nimctl.state.json.backup"), plan_file):
        assert path.exists() and private(path), f"{path} is not mode 0600"


def test_no_planted_secret_anywhere_in_a_local_lifecycle(tmp_path):
    values = {name: planted(name) for name in ("endpoint_env", "endpoint_env_from", "task_env", "task_env_from")}
    sandbox = LocalSandbox(tmp_path / "box", config=tmp_path / "local.yaml", tasks=2)
    sandbox.config.write_text(
        LOCAL_QUICKSTART.read_text()
        .replace(
            """  port: auto""",
            f"""  port: auto
  lepton_config:
    envs:
      MOCK_PASSWORD: {values["endpoint_env"]}
      REF_TOKEN:
        value_from:
          secret_name_ref: REL_ENDPOINT_SECRET""",
        )
        .replace(
            """    - name: nimctl.smoke""",
            f"""    - name: nimctl.smoke
      env_vars:
        SERVICE_TOKEN: {values["task_env"]}
        HF_TOKEN:
          value_from:
            secret_name_ref: REL_TASK_SECRET""",
        )
    )
    sandbox.env.update({"REL_ENDPOINT_SECRET": values["endpoint_env_from"], "REL_TASK_SECRET": values["task_env_from"]})
    hunt = Hunt(values)
    config = str(sandbox.config)
    plan_file = sandbox.root / "saved.plan"
    try:
        for args in (
            ["validate", "-f", config],
            ["plan", "-f", config, "--json"],
            ["plan", "-f", config, "--out", str(plan_file)],
        ):
            assert hunt.keep(sandbox.run(*args)).code == 0, hunt.results[-1].describe()
        applied = hunt.keep(sandbox.run("apply", str(plan_file), "--auto-approve"))
        assert applied.code == 0, applied.describe()
        inv = next(line.split(": ", 1)[1] for line in applied.out.splitlines() if line.startswith("Invocation: "))
        environments = b"".join(Path(f"/proc/{pid}/environ").read_bytes() for pid in sandbox._processes())
        assert values["endpoint_env"].encode() in environments and values["endpoint_env_from"].encode() in environments
        for args in (
            ["status", "--json"],
            ["show", "--json"],
            ["results", inv, "--json"],
            ["logs", inv, "--endpoint"],
            ["logs", inv, "--task", "nimctl.smoke"],
        ):
            assert hunt.keep(sandbox.run(*args)).code == 0, hunt.results[-1].describe()
        # A failing apply: the smoke task re-runs (new params) but its secret variable is unset.
        without = {k: v for k, v in sandbox.env.items() if k != "REL_TASK_SECRET"}
        missing = hunt.keep(
            nimctl(
                ["apply", "-f", config, "--auto-approve", "-o", "evaluation.tasks.0.params.max_tokens=9"],
                without,
                cwd=sandbox.root,
            )
        )
        assert missing.code == 1 and "REL_TASK_SECRET" in missing.err, missing.describe()
        assert hunt.keep(sandbox.destroy_all()).code == 0
    finally:
        sandbox.close()
    assert hunt.hits([sandbox.root], skip={sandbox.config}) == []
    assert private(sandbox.state_path) and private(plan_file)
