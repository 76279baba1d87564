"""Atomicity with real processes: a writer killed mid-write, readers racing a writer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nimctl.state.store import StateStore
from nimctl.state.validation import validate_state_dict
from tests.support.polling import wait_until
from tests.support.state_processes import WORKER


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _serial_or_zero(path: Path) -> int:
    try:
        return int(json.loads(path.read_bytes())["serial"])
    except (OSError, ValueError, KeyError):
        return 0


def _assert_whole_valid_state(path: Path) -> int:
    doc = json.loads(path.read_bytes())  # a torn file would fail here
    assert validate_state_dict(doc) == []
    return StateStore(path).read().serial


def test_writer_killed_mid_write_leaves_old_or_new_never_torn(state_path: Path) -> None:
    serials = []
    for delay in (0.05, 0.13, 0.21, 0.34, 0.5):
        writer = _start("write-loop", str(state_path), "100000", "300")
        try:
            assert writer.stdout.readline() == "started\n"
            # On a loaded machine the writer may not have written yet after `delay`: each run
            # is killed only once it has written at least once, at some moment during its loop.
            previous = serials[-1] if serials else 0
            wait_until(lambda previous=previous: _serial_or_zero(state_path) > previous, timeout=60)
            time.sleep(delay)
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(10)
            writer.stdout.close()
            writer.stderr.close()
        serials.append(_assert_whole_valid_state(state_path))
        if StateStore(state_path).backup_path.exists():
            _assert_whole_valid_state(StateStore(state_path).backup_path)
    # Every run wrote something and each one continued from the previous one's file.
    assert serials == sorted(serials) and serials[-1] > len(serials), serials


def test_readers_never_see_a_torn_file_during_a_write_loop(state_path: Path) -> None:
    store = StateStore(state_path)
    store.write(store.read())
    writer = _start("write-loop", str(state_path), "100000", "300")
    try:
        assert writer.stdout.readline() == "started\n"
        # Each reader reads until the writer has replaced the file 20 times under it.
        readers = [_start("read-loop", str(state_path), "20") for _ in range(3)]
        outputs = [r.communicate(timeout=120) for r in readers]
    finally:
        writer.kill()
        writer.wait(10)
        writer.stdout.close()
        writer.stderr.close()
    for reader, (out, err) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0, err[-2000:]
        reads, last_serial = int(out.split()[1]), int(out.split()[3])
        assert reads >= 1 and last_serial >= 20, out
    _assert_whole_valid_state(state_path)
