"""Sample states for the state and performance tests (``sample_state``, ``endpoint_record``,
``job_record``): realistic records, secrets only as fingerprints/references."""

from __future__ import annotations

from nimctl.common.secrets import fingerprint, redact_spec
from nimctl.state.model import Invocation, PendingEntry, ResourceRecord, State

INVOCATION_ID = "0123456789abcdef"


def endpoint_record(name: str, salt: str) -> ResourceRecord:
    spec = {
        "resource_requirement": {"resource_shape": "gpu.1xh200", "min_replicas": 1, "max_replicas": 2},
        "container": {"image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6", "command": []},
        "api_tokens": [
            {"value": fingerprint("s3cret-token", salt)},
            {"value_from": {"token_name_ref": "ENDPOINT_TOKEN"}},
        ],
        "envs": [
            {"name": "NGC_API_KEY", "value_from": {"secret_name_ref": "NGC_API_KEY"}},
            {"name": "HF_TOKEN", "value": fingerprint("hf_abc", salt)},
            {"name": "NIM_LOG_LEVEL", "value": "INFO"},
        ],
    }
    return ResourceRecord(
        address=f"endpoint.{name}",
        type="endpoint",
        provider="lepton",
        stack="demo",
        name=name,
        platform_id=name,
        spec=spec,
        inputs_hash="e" * 64,
        observed={"state": "ready", "platform_state": "Ready", "url": f"https://{name}.example.invalid"},
        invocation_id=INVOCATION_ID,
    )


def job_record(task: str, salt: str) -> ResourceRecord:
    spec = {
        "command": ["python", "-m", "nimctl.builtin_tasks.smoke"],
        "env": {"NIMCTL_ENDPOINT_URL": "http://127.0.0.1:8000", "NIMCTL_API_KEY_ENV": "API_KEY"},
        "output_dir": f"results/{task}",
    }
    spec = redact_spec(spec, salt)  # as apply stores it: NIMCTL_API_KEY_ENV looks secret by name
    return ResourceRecord(
        address=f"job.demo.{task}",
        type="job",
        provider="local",
        stack="demo",
        name=f"demo-{task}",
        platform_id=f"job-{task}",
        spec=spec,
        inputs_hash="a" * 64,
        observed={"state": "succeeded"},
        invocation_id=INVOCATION_ID,
        extra={"pid": 1234, "results": f"results/{task}/results.json"},
    )


def sample_state(resources: int = 3, pending: bool = True) -> State:
    """A state with one endpoint, ``resources - 1`` jobs, an invocation and a pending entry."""
    state = State()
    salt = state.lineage
    endpoint = endpoint_record("llama-demo", salt)
    state.resources[endpoint.address] = endpoint
    for i in range(resources - 1):
        job = job_record(f"task{i:04d}", salt)
        state.resources[job.address] = job
    state.invocations[INVOCATION_ID] = Invocation(
        id=INVOCATION_ID,
        command="apply",
        config_files=["examples/demo.yaml"],
        config_hash="c" * 64,
        created=sorted(state.resources),
        job_results={"job.demo.task0000": {"status": "succeeded"}},
    )
    if pending:
        state.pending.append(
            PendingEntry(
                id="f" * 32,
                op="create",
                address="job.demo.extra",
                type="job",
                provider="local",
                name="demo-extra",
                invocation_id=INVOCATION_ID,
                stack="demo",
            )
        )
    return state
