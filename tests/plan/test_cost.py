"""Cost in plans: GPU-hours, the worst case if nimctl dies, the price table (text and JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimctl.common.errors import NimctlError
from nimctl.config.loader import load_configs
from nimctl.config.prices import load_prices
from nimctl.plan.actions import Action, make_plan
from nimctl.plan.cost import estimate, gpus_per_replica, text_lines
from nimctl.stack.builder import build_stacks
from nimctl.state.model import State

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "lepton_nim_seed_example.yaml"
EXAMPLE_PRICES = REPO / "examples" / "prices" / "example.yaml"
SCHEMA = json.loads((REPO / "nimctl" / "schemas" / "nimctl-plan.schema.json").read_text())


@pytest.fixture(autouse=True)
def _no_user_prices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NIMCTL_PRICES", raising=False)
    monkeypatch.setenv("NIMCTL_CONFIG", str(tmp_path / "no-user-config.yaml"))


def seed_plan(*overrides: str):
    stacks = build_stacks(load_configs([str(SEED)], list(overrides)))
    plan = make_plan(stacks, State(), None, salt="salt")
    plan.stacks = stacks  # for estimate() below
    return plan


def estimate_seed(plan, prices=None, **kw):
    return estimate(plan, plan.stacks, prices, **kw)


def test_gpus_per_replica() -> None:
    assert gpus_per_replica("gpu.8xh200") == 8
    assert gpus_per_replica("GPU.1xH200") == 1
    assert gpus_per_replica("gpu.a10") == 1
    assert gpus_per_replica("cpu.small") == 0
    assert gpus_per_replica("") == 0


def test_worst_case_is_max_replicas_times_job_limit_plus_scale_down() -> None:
    plan = seed_plan("execution.evaluation_tasks.timeout=7200")
    [endpoint] = estimate_seed(plan).endpoints
    assert (endpoint.no_traffic_timeout_s, endpoint.longest_job_limit_s) == (3600, 7200)
    assert endpoint.worst_case_hours == 3.0  # 2 h job + 1 h without traffic
    assert endpoint.worst_case_gpu_hours == 9.0  # 3 replicas x 1 GPU x 3 h
    assert endpoint.worst_case_usd is None  # no price table: no dollars


def test_eight_gpu_shapes_count_eight_gpus() -> None:
    plan = seed_plan("execution.evaluation_tasks.timeout=3600", "deployment.lepton_config.resource_shape=gpu.8xh200")
    [endpoint] = estimate_seed(plan).endpoints
    assert endpoint.worst_case_gpu_hours == 3 * 8 * 2.0


def test_max_lifetime_caps_the_worst_case_and_nimctls_default_time_limit_bounds_it() -> None:
    from nimctl.stack.specs.task_plan import DEFAULT_TASK_TIMEOUT_S

    [default] = estimate_seed(seed_plan()).endpoints  # every job has a time limit, nimctl's default at least
    assert default.longest_job_limit_s == DEFAULT_TASK_TIMEOUT_S
    assert default.worst_case_hours == DEFAULT_TASK_TIMEOUT_S / 3600 + 1
    [capped] = estimate_seed(seed_plan("deployment.lepton_config.max_lifetime=2h")).endpoints
    assert capped.worst_case_hours == 2.0 and capped.worst_case_gpu_hours == 6.0


def test_scale_down_off_is_unbounded_and_said_so() -> None:
    plan = seed_plan(
        "execution.evaluation_tasks.timeout=600", "deployment.lepton_config.auto_scaler.scale_down.no_traffic_timeout=0"
    )
    report = estimate_seed(plan)
    assert report.endpoints[0].worst_case_hours is None
    assert any("UNBOUNDED: no scale-down timeout" in line for line in text_lines(report))


def test_short_timeout_with_jobs_warns_about_the_gap() -> None:
    plan = seed_plan("deployment.lepton_config.auto_scaler.scale_down.no_traffic_timeout=120")
    [endpoint] = estimate_seed(plan).endpoints
    assert any("does not scale up from zero" in w for w in endpoint.warnings)
    [no_wait] = estimate_seed(seed_plan(), no_wait=True).endpoints
    assert any("--no-wait" in w for w in no_wait.warnings)
    assert estimate_seed(seed_plan()).endpoints[0].warnings == []


def test_endpoint_deployed_without_its_jobs_warns() -> None:
    stacks = build_stacks(load_configs([str(SEED)], []))
    plan = make_plan(stacks, State(), None, targets=["endpoint.llama-3-1-8b"], salt="s")
    [endpoint] = estimate(plan, stacks).endpoints
    assert any("without its jobs" in w for w in endpoint.warnings)


def test_prices_from_nimctl_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIMCTL_PRICES", str(EXAMPLE_PRICES))
    prices = load_prices()
    assert prices is not None and prices.price("gpu.1xh200") == 4.0
    assert prices.notice == "EXAMPLE VALUES, NOT REAL PRICES"
    [endpoint] = estimate_seed(seed_plan("execution.evaluation_tasks.timeout=7200"), prices).endpoints
    assert (endpoint.per_hour_min, endpoint.per_hour_max) == (4.0, 12.0)
    assert (endpoint.per_hour_now, endpoint.change_per_hour) == (0.0, 4.0)
    assert endpoint.worst_case_usd == 36.0  # 3 replicas x 3 h x $4


def test_user_config_pricing_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    user = tmp_path / "config.yaml"
    user.write_text("pricing:\n  gpu.1xh200: 2.5\n")
    monkeypatch.setenv("NIMCTL_CONFIG", str(user))
    prices = load_prices()
    assert prices is not None and prices.price("gpu.1xh200") == 2.5 and "pricing:" in prices.source
    monkeypatch.setenv("NIMCTL_PRICES", str(EXAMPLE_PRICES))
    assert load_prices().price("gpu.1xh200") == 4.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpu.1xh200: 3.5\ngpu.8xh200: lots\n", ":2: gpu.8xh200: 'lots' is not a price"),
        ("gpu.1xh200: -1\n", ":1: gpu.1xh200: -1 is not a price"),
        ("gpu.1xh200: {usd: 3}\n", "unknown key(s) usd"),
        ("- gpu.1xh200\n", "must be a mapping"),
        ("gpu.1xh200: [\n", "not valid YAML"),
    ],
)
def test_bad_price_files_name_file_line_and_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    monkeypatch.setenv("NIMCTL_PRICES", str(path))
    with pytest.raises(NimctlError) as err:
        load_prices()
    assert str(path) in err.value.message and message in err.value.message


def _plan_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nimctl", "plan", "-f", str(SEED), "--refresh=false", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_plan_text_and_json_with_and_without_prices(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMCTL_", "LEPTON_"))}
    env.update(NIMCTL_STATE=str(tmp_path / "state.json"), NIMCTL_CONFIG=str(tmp_path / "none.yaml"), NO_COLOR="1")
    plain = _plan_cli("-o", "execution.evaluation_tasks.timeout=7200", env=env)
    assert plain.returncode == 0, plain.stderr
    assert "endpoint.llama-3-1-8b: gpu.1xh200 (1 GPU/replica), 1-3 replicas" in plain.stdout
    assert "= 9 replica-hours = 9 GPU-hours" in plain.stdout
    assert "no price table: to see dollars, set NIMCTL_PRICES" in plain.stdout
    assert "$" not in plain.stdout.split("Cost", 1)[1]

    env["NIMCTL_PRICES"] = str(EXAMPLE_PRICES)
    priced = _plan_cli("-o", "execution.evaluation_tasks.timeout=7200", env=env)
    assert "EXAMPLE VALUES, NOT REAL PRICES" in priced.stdout
    assert "$4.00/h at 1 replica, $12.00/h at 3 replicas; now $0.00/h (+$4.00/h)" in priced.stdout
    assert "9 GPU-hours ($36.00)" in priced.stdout

    document = json.loads(_plan_cli("--json", "-o", "execution.evaluation_tasks.timeout=7200", env=env).stdout)
    jsonschema.validate(document, SCHEMA)
    cost = document["cost"]
    assert cost["prices"]["notice"] == "EXAMPLE VALUES, NOT REAL PRICES"
    [endpoint] = cost["endpoints"]
    assert endpoint["usd_per_hour"] == {"at_min_replicas": 4.0, "at_max_replicas": 12.0, "now": 0.0, "change": 4.0}
    assert endpoint["worst_case"] == {
        "bounded": True,
        "hours": 3.0,
        "gpu_hours": 9.0,
        "usd": 36.0,
        "unbounded_reason": None,
    }
    assert cost["total"]["worst_case_usd"] == 36.0


@given(
    replicas=st.integers(min_value=1, max_value=16),
    gpus=st.sampled_from([1, 2, 4, 8]),
    job_limit=st.integers(min_value=0, max_value=48 * 3600),
    idle=st.integers(min_value=0, max_value=4 * 3600),
    not_ready=st.integers(min_value=0, max_value=4 * 3600),
    lifetime=st.one_of(st.none(), st.integers(min_value=600, max_value=72 * 3600)),
    price=st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False)),
)
def test_worst_case_properties(replicas, gpus, job_limit, idle, not_ready, lifetime, price) -> None:
    from nimctl.plan.cost import EndpointCost, _worst_case

    cost = EndpointCost(
        address="endpoint.e",
        action=Action.CREATE,
        resource_shape=f"gpu.{gpus}xh200",
        gpus_per_replica=gpus,
        min_replicas=1,
        max_replicas=replicas,
        price_per_replica_hour=price,
        now_replicas=0,
        now_per_replica_hour=None,
        no_traffic_timeout_s=float(idle),
        not_ready_timeout_s=float(not_ready),
        longest_job_limit_s=float(job_limit),
        jobs=1,
        max_lifetime_s=None if lifetime is None else float(lifetime),
        worst_case_hours=None,
    )
    _worst_case(cost, [])
    # Bounded exactly when the platform scales it down by itself or a lifetime deletes it.
    assert (cost.worst_case_hours is not None) == (idle > 0 or lifetime is not None)
    if cost.worst_case_hours is None:
        assert cost.unbounded_reason and cost.worst_case_usd is None
        return
    if lifetime is not None:  # never longer than the lifetime
        assert cost.worst_case_hours * 3600 <= lifetime + 1
    if idle > 0:  # never shorter than serving the jobs, then idling once, unless the lifetime cuts it
        assert cost.worst_case_hours * 3600 >= min(job_limit + idle, lifetime or 10**9) - 1
    assert cost.worst_case_gpu_hours == pytest.approx(replicas * gpus * cost.worst_case_hours, abs=0.01)
    if price is not None:
        assert cost.worst_case_usd == pytest.approx(replicas * price * cost.worst_case_hours, abs=0.01)
