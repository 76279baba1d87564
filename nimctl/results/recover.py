"""Reading the log channel (``nimctl.results.channel``) back: a job's log lines → its verified
result files, its exit status and whether its time limit stopped it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from nimctl.results.channel import MARKER

_LINE = re.compile(re.escape(MARKER) + r" (?P<run>\d+-\d+) (?P<kind>begin|data|end|skipped|done)(?: (?P<rest>.*))?$")
_FIELDS = re.compile(r"(\w+)=(\S*)")


@dataclass
class _File:
    size: int | None = None
    sha256: str | None = None
    chunks: dict[int, str] = field(default_factory=dict)
    ended: bool = False


@dataclass
class _Run:
    files: dict[str, _File] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    status: int | None = None
    timed_out: bool = False
    done: bool = False


@dataclass(frozen=True)
class Recovered:
    """What a job's log gave back: verified files, the job's own exit status and whether its time
    limit stopped it, and any problem (a file cut short, a digest that does not match)."""

    files: dict[str, bytes]
    status: int | None
    timed_out: bool
    complete: bool  # the job got as far as its done line
    skipped: dict[str, int] = field(default_factory=dict)  # name → size, too large for the log
    problems: tuple[str, ...] = ()


def decode(lines: Iterable[str]) -> Recovered | None:
    """The last attempt's verified files from a job's log lines (any order); None when the log
    holds no marker line at all (a job that never got to print, or one nimctl did not wrap)."""
    runs: dict[str, _Run] = {}
    for raw in lines:
        start = raw.find(MARKER)
        if start < 0:
            continue
        match = _LINE.match(raw[start:].rstrip("\r\n"))
        if match is None:
            continue
        run = runs.setdefault(match["run"], _Run())
        _take(run, match["kind"], (match["rest"] or "").split(" "))
    if not runs:
        return None
    # The newest attempt that finished printing, else the newest one seen.
    order = sorted(runs, key=lambda r: tuple(int(p) for p in r.split("-")))
    finished = [r for r in order if runs[r].done]
    chosen = runs[(finished or order)[-1]]
    files: dict[str, bytes] = {}
    problems = []
    for name, item in chosen.files.items():
        data, problem = _assemble(name, item)
        if problem:
            problems.append(problem)
        else:
            files[name] = data
    if not chosen.done:
        problems.append("the job's log ends before its results were printed in full")
    return Recovered(files, chosen.status, chosen.timed_out, chosen.done, dict(chosen.skipped), tuple(problems))


def _take(run: _Run, kind: str, words: list[str]) -> None:
    if kind == "done":
        values = dict(_FIELDS.findall(" ".join(words)))
        run.done = True
        run.status = int(values["status"]) if values.get("status", "").lstrip("-").isdigit() else None
        run.timed_out = values.get("timed_out") == "1"
        return
    if not words or not words[0]:
        return
    name = words[0]
    if kind == "skipped":
        size = dict(_FIELDS.findall(" ".join(words[1:]))).get("bytes", "")
        run.skipped[name] = int(size) if size.isdigit() else -1
        return
    item = run.files.setdefault(name, _File())
    if kind == "begin":
        values = dict(_FIELDS.findall(" ".join(words[1:])))
        item.size = int(values["bytes"]) if values.get("bytes", "").isdigit() else None
        digest = values.get("sha256", "-")
        item.sha256 = digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None
    elif kind == "data" and len(words) >= 2 and words[1].isdigit():
        item.chunks[int(words[1])] = words[2] if len(words) > 2 else ""
    elif kind == "end":
        item.ended = True


def _assemble(name: str, item: _File) -> tuple[bytes, str | None]:
    if item.size is None or not item.ended:
        return b"", f"{name}: its lines in the job's log are incomplete"
    count = len(item.chunks)
    if set(item.chunks) != set(range(count)):
        return b"", f"{name}: lines are missing from the job's log"
    try:
        data = base64.b64decode("".join(item.chunks[i] for i in range(count)), validate=True)
    except (binascii.Error, ValueError):
        return b"", f"{name}: its encoded lines in the job's log are damaged"
    if len(data) != item.size:
        return b"", f"{name}: {len(data)} bytes came back from the log, the job printed {item.size}"
    if item.sha256 is not None and hashlib.sha256(data).hexdigest() != item.sha256:
        return b"", f"{name}: the digest of what came back from the log does not match the job's"
    return data, None
