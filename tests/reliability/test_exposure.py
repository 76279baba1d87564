"""Exposure: nimctl's servers listen on loopback unless told otherwise and check their tokens, and
nothing nimctl starts goes through a shell with config values spliced into it."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.reliability.harness import REPO, LeptonSandbox, LocalSandbox, base_env, nimctl

pytestmark = pytest.mark.timeout(120)
PACKAGE = REPO / "nimctl"


# -- who listens where ---------------------------------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _decode_address(hex_address: str) -> str:
    ip, _ = hex_address.split(":")
    raw = bytes.fromhex(ip)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i : i + 4][::-1].hex() for i in range(0, 16, 4)]
    return ":".join(words)


def listening_addresses(pid: int) -> list[str]:
    """Addresses the process listens on (TCP, from /proc/net/tcp and tcp6)."""
    inodes = _socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                found.append(_decode_address(fields[1]))
    return found


def start_server(argv: list[str], env: dict[str, str], ready_text: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen = ""
    deadline = time.monotonic() + 20
    while ready_text not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert ready_text in seen, (seen, proc.poll())
    return proc, seen


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_emulator_serve_listens_on_loopback_and_enforces_its_token(tmp_path):
    env = base_env(tmp_path)
    proc, printed = start_server(
        [sys.executable, "-m", "nimctl", "emulator", "serve", "--port", "0", "--token", "emu-exposure-token"],
        env,
        "# Lepton emulator",
    )
    try:
        exports = dict(
            line[len("export ") :].split("=", 1) for line in printed.splitlines() if line.startswith("export ")
        )
        url = exports["LEPTON_WORKSPACE_URL"].strip("'")
        addresses = listening_addresses(proc.pid)
        assert addresses and all(a.startswith("127.") for a in addresses), addresses
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "emu-exposure-token"}):
            for path in ("/workspace", "/deployments", "/jobs", "/secrets"):
                assert requests.get(url + path, headers=headers, timeout=5).status_code == 401, (path, headers)
        admin = url.split("/api/")[0] + "/_emulator/state"
        assert requests.get(admin, timeout=5).status_code == 401
        good = {"Authorization": "Bearer emu-exposure-token"}
        assert requests.get(url + "/deployments", headers=good, timeout=5).status_code == 200
    finally:
        stop(proc)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_emulator_serve_refuses_a_non_loopback_host_without_allow_remote(tmp_path, host):
    result = nimctl(["emulator", "serve", "--host", host, "--port", "0"], base_env(tmp_path), timeout=20)
    assert result.code == 1 and "refusing" in result.err and "--allow-remote" in result.err, result.describe()


def test_emulator_endpoints_enforce_the_endpoint_token(lepton, tmp_path):
    sandbox = LeptonSandbox(tmp_path, lepton)
    assert sandbox.apply().code == 0
    url = lepton.endpoint_url("rel-two-tasks") + "/v1/models"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    ok = requests.get(url, headers={"Authorization": f"Bearer {sandbox.env['ENDPOINT_API_KEY']}"}, timeout=5)
    assert ok.status_code == 200
    assert sandbox.destroy_all().code == 0


def test_mock_server_listens_on_loopback_and_enforces_its_api_key(tmp_path):
    env = base_env(tmp_path)
    proc, printed = start_server(
        [sys.executable, "-m", "nimctl.offline.mock_server", "--port", "0", "--api-key", "mock-exposure-key"],
        env,
        "serving",
    )
    try:
        url = printed.split(" on ", 1)[1].split("/v1")[0]
        addresses = listening_addresses(proc.pid)
        assert addresses and all(a.startswith("127.") for a in addresses), addresses
        models = url + "/v1/models"
        assert requests.get(models, timeout=5).status_code == 401
        assert requests.get(models, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
        chat = requests.post(url + "/v1/chat/completions", json={"model": "x", "messages": []}, timeout=5)
        assert chat.status_code == 401
        assert requests.get(models, headers={"Authorization": "Bearer mock-exposure-key"}, timeout=5).ok
        assert requests.get(url + "/v1/health/ready", timeout=5).ok  # health stays open, as documented
    finally:
        stop(proc)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_mock_server_refuses_a_non_loopback_host_without_allow_remote(tmp_path, host):
    for argv in ([sys.executable, "-m", "nimctl.offline.mock_server"], [sys.executable, "-m", "nimctl", "mock-server"]):
        proc = subprocess.run(
            [*argv, "--host", host, "--port", "0"],
            env=base_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode != 0 and "--allow-remote" in proc.stderr, (argv, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr


# -- no shell, argv only --------------------------------------------------------------------------

FORBIDDEN_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("os", "execl"),
    ("os", "execlp"),
    ("os", "execle"),
    ("os", "execlpe"),
    ("os", "spawnl"),
    ("os", "spawnlp"),
    ("os", "spawnv"),
    ("os", "spawnvp"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("pty", "spawn"),
}
SUBPROCESS_CALLS = {"Popen", "run", "call", "check_call", "check_output"}


def package_sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _list_bound_names(func: ast.AST, module: ast.Module) -> set[str]:
    """Names a function binds to a list: ``x = [...]``, ``x: list[str]`` parameters, and tuple
    unpacking of a same-module function annotated to return a list in that position."""
    returns: dict[str, list[str]] = {}
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef) and node.returns is not None:
            ann = node.returns
            if isinstance(ann, ast.Subscript) and ast.unparse(ann.value) == "tuple":
                elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
                returns[node.name] = [ast.unparse(e) for e in elts]
    names: set[str] = set()
    args = getattr(func, "args", None)
    for arg in (args.args + args.kwonlyargs) if args else []:
        if arg.annotation is not None and ast.unparse(arg.annotation).startswith("list["):
            names.add(arg.arg)
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.ListComp)):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id in returns
        ):
            for target in node.targets:
                if isinstance(target, ast.Tuple):
                    kinds = returns[node.value.func.id]
                    for elt, kind in zip(target.elts, kinds, strict=False):
                        if isinstance(elt, ast.Name) and kind.startswith("list["):
                            names.add(elt.id)
    return names


def shell_audit() -> tuple[list[str], int]:
    """(problems, subprocess call sites checked) for the whole package."""
    problems: list[str] = []
    checked = 0
    for path in package_sources():
        source = path.read_text()
        module = ast.parse(source, filename=str(path))
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(module):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            for keyword in node.keywords:
                if keyword.arg == "shell":
                    problems.append(f"{where}: shell= passed")
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if (func.value.id, func.attr) in FORBIDDEN_CALLS:
                    problems.append(f"{where}: {func.value.id}.{func.attr}() runs a shell or a string command")
                if func.value.id == "subprocess" and func.attr in SUBPROCESS_CALLS:
                    checked += 1
                    argv = (
                        node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
                    )
                    scope = node
                    while scope in parents and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        scope = parents[scope]
                    if isinstance(argv, (ast.List, ast.Tuple)):
                        continue
                    if isinstance(argv, ast.Name) and argv.id in _list_bound_names(scope, module):
                        continue
                    problems.append(
                        f"{where}: subprocess.{func.attr}() is not given an argv list "
                        f"({ast.unparse(argv) if argv else 'nothing'})"
                    )
    return problems, checked


def test_no_shell_and_every_subprocess_gets_an_argv_list():
    problems, checked = shell_audit()
    assert problems == []
    assert checked >= 2  # the local provider's start and its runner's child: the audit saw them
    texts = "\n".join(p.read_text() for p in package_sources())
    for forbidden in ("shell=True", "os.system(", "os.popen("):
        assert forbidden not in texts


def test_config_values_reach_a_local_process_as_argv_items_never_through_a_shell(tmp_path):
    """A deployment command whose items hold shell syntax: the process receives them verbatim and
    no shell ever interprets them (no file is created)."""
    seen = tmp_path / "argv.json"
    hostile = ["$(touch PWNED1)", "; touch PWNED2", "`touch PWNED3`", "| touch PWNED4", "&& touch PWNED5", "{port}"]
    program = "import json, sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))"
    config = tmp_path / "hostile.yaml"
    config.write_text(f"""defaults:
  - execution: local
  - deployment: none
  - _self_
execution:
  output_dir: results
  local:
    readiness_timeout: 2
deployment:
  type: mock
  served_model_name: m
  port: auto
  command: {json.dumps([sys.executable, "-c", program, str(seen), *hostile])}
evaluation:
  tasks:
    - name: nimctl.smoke
""")
    sandbox = LocalSandbox(tmp_path / "box", config=config, tasks=1)
    try:
        validated = sandbox.run("validate", "-f", str(config))
        if validated.code != 0:  # fall back to the bundled mock deployment group, argv overridden
            config.write_text(
                config.read_text().replace("  - deployment: none", "  - deployment: mock").replace("  type: mock\n", "")
            )
            validated = sandbox.run("validate", "-f", str(config))
        assert validated.code == 0, validated.describe()
        failed = sandbox.apply()
        assert failed.code == 1, failed.describe()  # it never serves: the readiness wait gives up
        assert json.loads(seen.read_text())[:-1] == hostile[:-1]
        assert json.loads(seen.read_text())[-1].isdigit()  # {port} was replaced, nothing else
        assert not [p for p in Path("/").glob("PWNED*")] and not list(tmp_path.rglob("PWNED*"))
        assert not list(Path(sandbox.root).glob("PWNED*"))
    finally:
        sandbox.close()
    assert sandbox.wait_nothing_live() == []
