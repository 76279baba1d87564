"""Reading the run files W&B writes in offline mode (``offline-run-*/run-<id>.wandb``): a
LevelDB-style log of protobuf ``Record`` messages, decoded with W&B's own protobuf classes."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = 32 * 1024
HEADER = 7  # ":W&B" + 2-byte magic + version
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        chunk = data[pos : pos + length]
        pos += length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""


@dataclass
class OfflineRun:
    run_id: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    artifacts: dict[str, list[str]] = field(default_factory=dict)  # name → file paths in it
    exit_code: int | None = None


def read_run(path: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    out = OfflineRun()

    def key(item) -> str:
        return item.key or "/".join(item.nested_key)

    for data in records(path):
        record = pb.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out.run_id, out.name, out.group = record.run.run_id, record.run.display_name, record.run.run_group
            out.tags = list(record.run.tags)
            out.config.update({key(i): json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            out.config.update({key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "summary":
            out.summary.update({key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "history":
            out.history.append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "artifact":
            out.artifacts[record.artifact.name] = [c.path for c in record.artifact.manifest.contents]
        elif kind == "exit":
            out.exit_code = record.exit.exit_code
    return out


def offline_runs(wandb_dir: Path) -> list[tuple[Path, OfflineRun]]:
    return [(p, read_run(p)) for p in sorted(wandb_dir.glob("wandb/offline-run-*/run-*.wandb"))]
