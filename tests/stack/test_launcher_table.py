"""The bundled task table against the real NeMo Evaluator launcher release it was generated from.

The launcher is installed (its wheel, no dependencies but structlog, which its loader imports)
into a temporary directory and run in subprocesses, so nimctl's own environment never gets it:
every qualified name, image, endpoint type, arch and description must equal what the launcher's
``load_tasks_mapping()`` gives, in its order; the committed data file must be exactly what
``tools/launcher_tasks.py`` writes from that wheel; ``nimctl tasks --json`` has the keys of
``nel ls tasks --json``; and an installed launcher replaces the table only when it is newer.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nimctl.stack.tasks import TABLE_FILE, task_table
from tools import launcher_tasks

pytestmark = pytest.mark.timeout(240)

VERSION = json.loads(TABLE_FILE.read_text())["source"]["version"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the launcher's wheel, a directory it is installed in)."""
    wheels = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("launcher")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [
            *pip,
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(wheels),
            f"{launcher_tasks.PACKAGE}=={VERSION}",
        ],
        check=True,
        timeout=180,
    )
    (wheel,) = wheels.glob("nemo_evaluator_launcher-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel), "structlog>=25.4,<26"],
        check=True,
        timeout=180,
    )
    return wheel, target


def run_python(code: str, target: Path, tmp_path: Path) -> dict:
    """Run ``code`` with the launcher importable; it writes its answer as JSON to OUT."""
    out = tmp_path / "answer.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)]), "OUT": str(out)}
    env.pop("NIMCTL_CACHE_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


MAPPING = """
import json, os
from nemo_evaluator_launcher.common.mapping import load_tasks_mapping
mapping = load_tasks_mapping()
rows = [
    {"key": list(key), "task": v.get("task"), "endpoint_type": v.get("endpoint_type"), "harness": v.get("harness"),
     "container": v.get("container"), "arch": v.get("arch", ""), "description": v.get("description", "")}
    for key, v in mapping.items()
]
json.dump(rows, open(os.environ["OUT"], "w"))
"""


def test_every_task_matches_the_launchers_mapping(launcher, tmp_path) -> None:
    _, target = launcher
    theirs = run_python(MAPPING, target, tmp_path)
    assert len(theirs) == 421 and len({r["harness"] for r in theirs}) == 23
    for row in theirs:
        assert row.pop("key") == [row["harness"], row["task"]]
    ours = [row.launcher_json() for row in task_table().harness_rows()]
    assert [(r["harness"], r["task"]) for r in ours] == [(r["harness"], r["task"]) for r in theirs]
    assert ours == theirs  # image, endpoint type, arch and description of every task, in order


def test_the_committed_table_is_what_the_generator_writes(launcher) -> None:
    wheel, _ = launcher
    assert launcher_tasks.dump(launcher_tasks.table_document(wheel)) == TABLE_FILE.read_text()


def test_json_listing_has_the_launchers_keys(launcher) -> None:
    _, target = launcher
    source = (target / "nemo_evaluator_launcher" / "cli" / "ls_tasks.py").read_text()
    headers = next(
        [ast.literal_eval(e) for e in node.value.elts]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "headers" for t in node.targets)
        and isinstance(node.value, ast.List)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "nimctl", "tasks", "--json"], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert len(document["tasks"]) == 421
    assert all(list(row) == headers for row in document["tasks"])  # same keys, same order
    assert [r["task"] for r in document["builtin_tasks"]] == ["smoke", "perf"]
    assert document["source"] == {"package": "nemo-evaluator-launcher", "version": VERSION, "origin": "bundled"}


ORIGIN = """
import dataclasses, json, os, sys
import nimctl.stack.tasks as tasks
if sys.argv[1] == "older-bundle":  # as if nimctl's table came from an older release
    bundled = tasks.bundled_table
    tasks.bundled_table = lambda: dataclasses.replace(bundled(), version="0.2.5")
table = tasks.task_table()
task = tasks.resolve_task("lm-evaluation-harness.ifeval")
json.dump({"origin": table.origin, "version": table.version, "rows": len(table.harness_rows()),
           "image": task.image, "note": task.note}, open(os.environ["OUT"], "w"))
"""


def test_an_installed_launcher_replaces_the_table_only_when_newer(launcher, tmp_path) -> None:
    _, target = launcher
    same = run_python(ORIGIN.replace("sys.argv[1]", "'same'"), target, tmp_path)
    assert (same["origin"], same["version"], same["note"]) == ("bundled", VERSION, None)
    newer = run_python(ORIGIN.replace("sys.argv[1]", "'older-bundle'"), target, tmp_path)
    assert (newer["origin"], newer["version"], newer["rows"]) == ("installed", VERSION, 421)
    assert newer["image"] == "nvcr.io/nvidia/eval-factory/lm-evaluation-harness:26.03"
    assert f"nemo-evaluator-launcher {VERSION} (the installed launcher)" in newer["note"]
