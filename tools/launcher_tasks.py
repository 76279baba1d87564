"""Regenerate nimctl's task table from a NeMo Evaluator launcher release.

Takes the launcher's wheel (downloaded with ``pip download --no-deps`` unless ``--wheel`` names
one), reads the task list the launcher itself loads (``resources/all_tasks_irs.yaml``), and
writes ``nimctl/stack/data/launcher_tasks.json``: one row per task with the fields of
``nel ls tasks --json`` (task, endpoint_type, harness, container, arch, description), in the
launcher's order, plus where the rows came from. Nothing of the launcher's code is kept.

    python tools/launcher_tasks.py                    # the version the table already records
    python tools/launcher_tasks.py --version 0.2.7    # another release
    python tools/launcher_tasks.py --wheel path/to/nemo_evaluator_launcher-X-py3-none-any.whl

The rules below follow the launcher's loader (``common/mapping.py`` and
``common/container_metadata/intermediate_repr.py`` in 0.2.6); tests/stack/test_launcher_table.py
checks the result against the real package's ``load_tasks_mapping()``.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "nemo-evaluator-launcher"
IR_FILE = "nemo_evaluator_launcher/resources/all_tasks_irs.yaml"
ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "nimctl" / "stack" / "data" / "launcher_tasks.json"
FIELDS = ("task", "endpoint_type", "harness", "container", "arch", "description")


def download_wheel(version: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(into)]
        + [f"{PACKAGE}=={version}"],
        check=True,
    )
    wheels = sorted(into.glob("nemo_evaluator_launcher-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download left no {PACKAGE} wheel in {into}")
    return wheels[0]


def wheel_version(wheel: zipfile.ZipFile) -> str:
    metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    message = email.parser.Parser().parsestr(wheel.read(metadata).decode())
    return str(message["Version"])


def rows_from_irs(irs: dict[str, Any]) -> list[dict[str, str]]:
    """The launcher's task list as ``nel ls tasks --json`` rows. A task's container (and arch)
    is its own if it names one, else its harness's; the endpoint type is the first of its
    ``supported_endpoint_types`` (``chat`` when there are none); a repeated (harness, task) keeps
    its first occurrence, as the launcher does."""
    harnesses: dict[str, dict[str, Any]] = {}
    for harness in irs.get("harnesses") or []:
        harnesses.setdefault(harness["name"], harness)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for task in irs.get("tasks") or []:
        key = (task["harness"], task["name"])
        if key in rows:
            continue
        harness = harnesses.get(task["harness"], {})
        config = (task.get("defaults") or {}).get("config") or {}
        endpoint_types = config.get("supported_endpoint_types", ["chat"])
        rows[key] = {
            "task": task["name"],
            "endpoint_type": endpoint_types[0] if endpoint_types else "chat",
            "harness": task["harness"],
            "container": task.get("container") or harness.get("container") or "",
            "arch": task.get("container_arch") or harness.get("arch") or "",
            "description": task.get("description") or "",
        }
    return list(rows.values())


def table_document(wheel_path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel_path) as wheel:
        raw = wheel.read(IR_FILE)
        version = wheel_version(wheel)
    irs = yaml.safe_load(raw)
    rows = rows_from_irs(irs)
    return {
        "source": {
            "package": PACKAGE,
            "version": version,
            "file": IR_FILE,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "tasks": len(rows),
            "harnesses": len({r["harness"] for r in rows}),
        },
        "tasks": rows,
    }


def dump(document: dict[str, Any]) -> str:
    """JSON with one task per line, so a new launcher release reads as a short diff."""
    rows = ",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in document["tasks"])
    source = json.dumps(document["source"], ensure_ascii=False)
    return f'{{\n  "source": {source},\n  "tasks": [\n{rows}\n  ]\n}}\n'


def recorded_version() -> str:
    return str(json.loads(TABLE.read_text())["source"]["version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help=f"{PACKAGE} release (default: the one the table records)")
    parser.add_argument("--wheel", type=Path, help="a downloaded wheel to read instead")
    parser.add_argument("--out", type=Path, default=TABLE, help=f"where to write (default {TABLE.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(args.version or recorded_version(), Path(tmp))
        document = table_document(wheel)
    args.out.write_text(dump(document))
    source = document["source"]
    print(f"{args.out}: {source['tasks']} tasks in {source['harnesses']} harnesses from {PACKAGE} {source['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
