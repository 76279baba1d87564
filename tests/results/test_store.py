"""The results cache beside the state and the document of `nimctl results ID --json`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from nimctl.results import store
from nimctl.state.model import Invocation, InvocationStatus, State
from tests.support.results_channel import emit

FIXTURES = Path(__file__).parent / "fixtures"
INV = "0123456789abcdef"


def fixture_files(name: str = "echo-0.2.8-half") -> dict[str, bytes]:
    return {n: (FIXTURES / name / n).read_bytes() for n in ("results.yml", "eval_factory_metrics.json")}


def test_cache_lives_beside_the_state(tmp_path: Path) -> None:
    root = store.cache_root(tmp_path / "state")
    assert root == (tmp_path / "state" / "cache" / "results").resolve()
    directory = store.save(root, INV, "job.demo.echo", fixture_files(), source="log", status=0)
    assert directory == root / INV / "demo.echo"
    assert sorted(p.name for p in directory.iterdir()) == ["eval_factory_metrics.json", "nimctl.json", "results.yml"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in directory.iterdir())
    cached = store.load(root, INV, "job.demo.echo")
    assert cached is not None and cached.files == fixture_files() and cached.source == "log" and cached.status == 0


def test_odd_addresses_get_distinct_safe_directories(tmp_path: Path) -> None:
    a = store.job_cache_dir(tmp_path, INV, "job.demo.my task")
    b = store.job_cache_dir(tmp_path, INV, "job.demo.my_task")
    assert a != b and a.parent == b.parent == tmp_path / INV and "/" not in a.name
    assert store.job_cache_dir(tmp_path, INV, "job.x.../../etc").parent == tmp_path / INV


def test_a_changed_cached_file_is_ignored(tmp_path: Path) -> None:
    directory = store.save(tmp_path, INV, "job.demo.echo", fixture_files(), source="output_dir")
    (directory / "results.yml").write_text("results: {tasks: {}}\n")
    cached = store.load(tmp_path, INV, "job.demo.echo")
    assert "results.yml" not in cached.files and "eval_factory_metrics.json" in cached.files
    assert any("changed in the cache" in p for p in cached.problems)


def state_with(records: dict[str, dict]) -> State:
    state = State()
    state.invocations[INV] = Invocation(id=INV, command="apply", status=InvocationStatus.SUCCEEDED, job_results=records)
    return state


def test_invocation_results_json_reads_the_cache_after_the_files_are_gone(tmp_path: Path) -> None:
    out = tmp_path / "results" / INV / "echo"
    out.mkdir(parents=True)
    for name, data in fixture_files().items():
        (out / name).write_bytes(data)
    record = {
        "task": "echo",
        "job": "eval-012345-demo-echo-abcdef",
        "state": "succeeded",
        "platform": "local",
        "started_at": 100.0,
        "finished_at": 104.5,
        "results_dir": str(out),
        "time_limit_s": 600,
    }
    root = tmp_path / "cache"
    store.collect_record(root, INV, "job.demo.echo", record, reader=None)
    for path in out.iterdir():  # the output directory is removed: the cache still answers
        path.unlink()
    document = store.invocation_results(state_with({"job.demo.echo": record}), root, INV).to_json()
    json.dumps(document)  # plain JSON
    (item,) = document["results"]
    assert item["tasks"]["echo"]["metrics"]["exact_word"]["scores"]["accuracy"]["value"] == 0.5
    assert item["versions"] == {"nemo_evaluator": "0.2.8"}
    assert item["run_metrics"]["requests"] == 6
    assert (item["duration_s"], item["time_limit_s"], item["timed_out"]) == (4.5, 600.0, False)
    assert item["source"] == "output_dir"


def test_a_job_without_results_has_empty_scores(tmp_path: Path) -> None:
    record = {"task": "t", "state": "failed", "platform": "lepton", "results_dir": "/results/t"}
    (job,) = store.invocation_results(state_with({"job.demo.t": record}), tmp_path, INV).jobs
    assert job.evaluation is None and job.to_json()["tasks"] == {} and job.source is None


class Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.calls: list[tuple[str, float | None]] = []

    def result_log_lines(self, job_id: str, since: float | None) -> list[str]:
        self.calls.append((job_id, since))
        return self.lines


def test_collect_from_a_log_reader(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.yml").write_bytes(fixture_files()["results.yml"])
    reader = Reader(emit(out, status=3))
    record = {"state": "failed", "platform": "lepton", "job_id": "eval-x-1234", "started_at": 50.0}
    cached = store.collect_record(tmp_path, INV, "job.demo.echo", record, reader)
    assert reader.calls == [("eval-x-1234", 50.0)]
    assert cached.files == {"results.yml": fixture_files()["results.yml"]} and cached.status == 3
    (job,) = store.invocation_results(state_with({"job.demo.echo": record}), tmp_path, INV).jobs
    assert job.evaluation.tasks["echo"].metrics["exact_word"].scores["accuracy"].value == 0.5
    assert (
        store.collect_record(tmp_path, INV, "job.demo.other", {"platform": "lepton", "job_id": "j"}, Reader([])) is None
    )
