"""Secret references on the local platform are read from nimctl's environment at start time."""

from __future__ import annotations

import sys

import pytest

from nimctl.providers.base import JobState, Rejected
from tests.support.polling import wait_until


def test_env_from_reaches_the_process_but_not_the_record(provider, state_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_SECRET_FOR_TEST", "planted-value-5521")
    out = tmp_path / "seen.txt"
    spec = {
        "command": [
            sys.executable,
            "-c",
            "import os,sys; open(sys.argv[1],'w').write(os.environ['HF_TOKEN'])",
            str(out),
        ],
        "env": {},
        "env_from": {"HF_TOKEN": "HF_SECRET_FOR_TEST"},
        "output_dir": str(tmp_path / "job"),
    }
    job = provider.submit_job("env-from-job", spec)
    done = wait_until(lambda: provider.get_job(job.id).state.terminal and provider.get_job(job.id))
    assert done.state == JobState.SUCCEEDED
    assert out.read_text() == "planted-value-5521"
    records = list(state_dir.rglob("*.json"))
    assert records and not any("planted-value-5521" in p.read_text() for p in records)


def test_env_from_missing_variable_is_a_clear_rejection(provider, tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE_1234", raising=False)
    spec = {
        "command": [sys.executable, "-c", "pass"],
        "env_from": {"HF_TOKEN": "NOT_SET_ANYWHERE_1234"},
        "output_dir": str(tmp_path / "job"),
    }
    with pytest.raises(Rejected) as err:
        provider.submit_job("env-from-missing", spec)
    assert "NOT_SET_ANYWHERE_1234" in str(err.value) and "export" in str(err.value)
