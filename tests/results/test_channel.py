"""The log channel: files printed by the job script's shell functions (run by a real /bin/sh)
come back byte-exact from the lines, in any order, across restarts; damage is detected."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimctl.results.channel import MARKER, MAX_FILE_BYTES
from nimctl.results.recover import decode
from tests.support.results_channel import emit

FIXTURES = Path(__file__).parent / "fixtures"


def test_real_result_files_round_trip(tmp_path: Path) -> None:
    for name in ("results.yml", "eval_factory_metrics.json"):
        (tmp_path / name).write_bytes((FIXTURES / "echo-0.2.8-half" / name).read_bytes())
    lines = emit(tmp_path, status=0)
    assert all(line.startswith(MARKER) for line in lines)
    assert max(len(line) for line in lines) < 160  # short lines: no log system splits them
    random.Random(7).shuffle(lines)  # lines of one timestamp may come back in any order
    noise = ["INFO something else", f"{MARKER} garbage", "  nimctl-results/1 x"]
    got = decode(noise + lines)
    assert got is not None and got.complete and not got.problems
    assert got.files == {n: (tmp_path / n).read_bytes() for n in ("results.yml", "eval_factory_metrics.json")}
    assert (got.status, got.timed_out) == (0, False)


def test_failure_status_time_limit_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "nimctl_timed_out").touch()
    got = decode(emit(tmp_path, status=124))
    assert got is not None and got.files == {} and got.complete
    assert (got.status, got.timed_out) == (124, True)


def test_a_log_prefix_before_the_marker_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "results.yml").write_text("results: {}\n")
    lines = [f"2026-01-01T00:00:00Z stdout F {line}" for line in emit(tmp_path)]
    assert decode(lines).files == {"results.yml": b"results: {}\n"}


def test_no_marker_means_nothing_to_read() -> None:
    assert decode(["hello", "world"]) is None


def test_the_last_finished_attempt_counts(tmp_path: Path) -> None:
    (tmp_path / "results.yml").write_text("first\n")
    first = [line.replace(line.split()[1], "100-1", 1) for line in emit(tmp_path, status=1)]
    (tmp_path / "results.yml").write_text("second\n")
    second = [line.replace(line.split()[1], "200-1", 1) for line in emit(tmp_path, status=0)]
    unfinished = [f"{MARKER} 300-1 begin results.yml bytes=5 sha256=-"]  # a third attempt, cut off
    got = decode(second + unfinished + first)
    assert got.files == {"results.yml": b"second\n"} and got.status == 0


def test_cut_damaged_and_tampered_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "results.yml").write_bytes(b"x" * 400)
    lines = emit(tmp_path)
    data = [i for i, line in enumerate(lines) if " data " in line]
    missing = decode([line for i, line in enumerate(lines) if i != data[1]])
    assert missing.files == {} and "missing" in missing.problems[0]
    damaged = list(lines)
    damaged[data[0]] = damaged[data[0]][:-4] + "!!!!"
    assert "damaged" in decode(damaged).problems[0]
    tampered = list(lines)
    tampered[data[0]] = tampered[data[0]][:-4] + "eXl5"  # valid base64, other bytes
    assert "digest" in decode(tampered).problems[0]
    cut = decode(lines[:-2])
    assert not cut.complete and cut.files == {}


def test_a_file_too_large_for_the_log_is_reported_not_printed(tmp_path: Path) -> None:
    (tmp_path / "results.yml").write_bytes(b"y" * (MAX_FILE_BYTES + 1))
    lines = emit(tmp_path)
    assert len(lines) == 2
    assert decode(lines).skipped == {"results.yml": MAX_FILE_BYTES + 1}


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=3000), st.randoms(use_true_random=False))
def test_any_bytes_round_trip_in_any_order(tmp_path_factory: pytest.TempPathFactory, data: bytes, rnd) -> None:
    out = tmp_path_factory.mktemp("emit")
    (out / "eval_factory_metrics.json").write_bytes(data)
    lines = emit(out)
    rnd.shuffle(lines)
    assert decode(lines).files == {"eval_factory_metrics.json": data}
