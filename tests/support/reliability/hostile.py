"""Malformed input for the bad-input promise: configs (the config tests' broken corpus, used in
place, plus generated hostile files), state files and plan files.

Each case is run through the real CLI under an address-space limit; the promise is the same for
all: exit code 1 with a clear error (no traceback), nothing written (the state directory stays
byte-identical), no platform call (the emulator's request log stays empty), in bounded time.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import Result
from tests.support.reliability.harness import LEPTON_TWO_TASKS, REPO, nimctl

BROKEN_CORPUS = REPO / "tests" / "config" / "broken"
MEMORY_LIMIT = 1536 * 1024 * 1024  # RLIMIT_AS of every run: 1.5 GiB
# A hang guard, not a speed goal (each case takes well under a second on an idle machine; the
# parallel suite on 2 cores can make that many seconds).
HANG_LIMIT_S = 60.0
GOOD = LEPTON_TWO_TASKS.read_text()


@dataclass
class BadInput:
    name: str
    args: list[str]  # what follows `nimctl` (e.g. ["validate", "-f", PATH])
    mentions: list[str]  # the error must name these (the file, a key, an option)


def _write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _good_with(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def hostile_configs(folder: Path) -> list[tuple[str, Path, str]]:
    """Generated malformed configs: (case name, path, text the error must contain)."""
    rng = random.Random(20240607)
    deep_flow = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    deep_block = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
    )
    merge_bomb = "base: &m-1 {a: 1, b: 2}\n" + "".join(f"m{i}: &m{i} {{<<: [*m{i - 1}], x{i}: 1}}\n" for i in range(40))
    # ${...} repeating each level ten times, each level preceded by a key holding dots that spells
    # its path (a dotted-string estimate took that key for the level): 10**9 characters resolved.
    dotted_bomb = "h:\n" + "".join(
        f'  "l{i}.v": s\n  l{i}:\n    v: "' + ("x" * 10 if i == 0 else f"${{h.l{i - 1}.v}}" * 10) + '"\n'
        for i in range(9)
    )
    cases: list[tuple[str, bytes | str, str]] = [
        ("empty.yaml", b"", "empty"),
        ("blank.yaml", b"\n \n\t\n", ""),
        ("binary.yaml", bytes(rng.randrange(256) for _ in range(8192)), "binary"),
        ("nul_in_text.yaml", GOOD.encode()[:200] + b"\x00\x00" + GOOD.encode()[200:], ""),
        ("latin1.yaml", _good_with("ifeval", "ifeval-\u00e9t\u00e9").encode("latin-1"), ""),
        ("utf16_no_bom.yaml", GOOD.encode("utf-16-le"), ""),
        ("oversized.yaml", "# " + "x" * (3 * 1024 * 1024) + "\n", "larger than"),
        (
            "huge_string_value.yaml",
            _good_with("endpoint_name: rel-two-tasks", "endpoint_name: " + "n" * 1_500_000),
            "endpoint_name",
        ),
        ("huge_unknown_key.yaml", GOOD + "k" * 500_000 + ": 1\n", ""),
        ("deep_flow_nesting.yaml", deep_flow, "nesting"),
        ("deep_block_nesting.yaml", deep_block, "nested"),
        ("billion_laughs.yaml", laughs, "aliases"),
        ("merge_key_bomb.yaml", merge_bomb, ""),
        ("recursive_alias.yaml", "a: &a\n  b: *a\n", ""),
        (
            "many_tasks.yaml",
            GOOD.replace("    - name: gsm8k\n", "".join(f"    - name: t{i}\n" for i in range(25000))),
            "",
        ),
        ("cyrillic_name.yaml", _good_with("endpoint_name: rel-two-tasks", "endpoint_name: модель-1"), "endpoint_name"),
        ("zero_width_key.yaml", _good_with("  lepton_config:", "  lepton\u200b_config:"), "lepton"),
        (
            "emoji_env_name.yaml",
            _good_with("    api_tokens:", "    envs:\n      \U0001f511KEY: x\n    api_tokens:"),
            "envs",
        ),
        ("rtl_override_task.yaml", _good_with("- name: gsm8k", "- name: \u202egsm8k"), ""),
        (
            "path_traversal_name.yaml",
            _good_with("endpoint_name: rel-two-tasks", "endpoint_name: ../../etc"),
            "endpoint_name",
        ),
        ("shell_in_task_name.yaml", _good_with("- name: gsm8k", "- name: 'gsm8k; rm -rf /'"), "gsm8k"),
        (
            "int_overflow.yaml",
            _good_with("min_replicas: 1", "min_replicas: 99999999999999999999999999"),
            "min_replicas",
        ),
        ("float_infinity.yaml", _good_with("max_replicas: 2", "max_replicas: .inf"), "max_replicas"),
        ("nan_port.yaml", _good_with("  served_model_name:", "  port: .nan\n  served_model_name:"), "port"),
        ("date_as_port.yaml", _good_with("  served_model_name:", "  port: 2024-01-01\n  served_model_name:"), "port"),
        ("int_top_level_key.yaml", GOOD + "1: one\n", ""),
        ("complex_key.yaml", GOOD + "? [a, b]\n: c\n", ""),
        ("null_deployment.yaml", GOOD.replace("deployment:\n  image", "deployment: null\nx:\n  image", 1), ""),
        ("tasks_as_string.yaml", GOOD.split("evaluation:")[0] + "evaluation:\n  tasks: ifeval\n", "tasks"),
        ("empty_task_name.yaml", _good_with("- name: gsm8k", "- name: ''"), "name"),
        ("crlf_and_tabs.yaml", GOOD.replace("\n", "\r\n").replace("    - name", "\t- name"), ""),
        (
            "value_from_typo.yaml",
            _good_with("token_name_ref: ENDPOINT_API_KEY", "token_name_reff: ENDPOINT_API_KEY"),
            "token_name_reff",
        ),
        ("python_object_tag.yaml", GOOD + "x: !!python/object/apply:os.system ['echo pwned']\n", ""),
        ("not_yaml_at_all.yaml", "<html><body>404</body></html>\n", ""),
        ("json_array.yaml", "[1, 2, 3]\n", "list"),
        (
            "dotted_key_broken_interpolation.yaml",
            _good_with("- name: gsm8k", '- name: gsm8k\n      overrides: {config.params.temperature: "${oops"}'),
            "config.params.temperature",
        ),
        ("dotted_key_expansion_bomb.yaml", GOOD + dotted_bomb, "expand"),
    ]
    made = []
    for name, data, mention in cases:
        made.append((name, _write(folder, name, data), mention))
    mixed = folder / "mixed_dir"
    _write(mixed, "good.yaml", GOOD.replace("rel-two-tasks", "mixed-good"))
    _write(mixed, "bad.yaml", _good_with("max_replicas: 2", "max_replicas: -3"))
    made.append(("mixed_good_and_bad_dir", mixed, "bad.yaml"))  # the good file must not be applied either
    empty_dir = folder / "empty_dir"
    empty_dir.mkdir(exist_ok=True)
    made.append(("empty_dir", empty_dir, ""))
    fifo = folder / "pipe.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)  # opening it for reading would block forever
    made.append(("named_pipe", fifo, ""))
    made.append(("dev_zero", Path("/dev/zero"), ""))
    made.append(("missing_file", folder / "does-not-exist.yaml", ""))
    return made


def config_cases(folder: Path) -> list[tuple[str, Path, str]]:
    corpus = [(f"corpus/{p.name}", p, "") for p in sorted(BROKEN_CORPUS.glob("*.yaml"))]
    return corpus + hostile_configs(folder)


def config_inputs(folder: Path, commands: tuple[str, ...] = ("validate", "plan", "apply")) -> list[BadInput]:
    inputs = []
    for name, path, expect in config_cases(folder):
        for command in commands:
            extra = ["--auto-approve"] if command == "apply" else []
            inputs.append(
                BadInput(
                    f"{command} {name}", [command, "-f", str(path), *extra], [path.name, *([expect] if expect else [])]
                )
            )
    # Overrides are input too.
    overrides = (
        ("override_unknown_key", "deployment.lepton_config.max_replicass=3", "max_replicass"),
        ("override_no_equals", "deployment.image", "deployment.image"),
        ("override_bad_yaml", "deployment.lepton_config.max_replicas=[1,", "max_replicas"),
        ("override_wrong_type", "deployment.lepton_config.min_replicas=many", "min_replicas"),
    )
    for name, override, mention in overrides:
        for command in commands:
            extra = ["--auto-approve"] if command == "apply" else []
            inputs.append(
                BadInput(f"{command} {name}", [command, "-f", str(LEPTON_TWO_TASKS), "-o", override, *extra], [mention])
            )
    return inputs


# -- state files -----------------------------------------------------------------------------------


def _valid_state(lineage: str = "0" * 32) -> dict[str, Any]:
    return {"version": 1, "lineage": lineage, "serial": 3, "resources": {}, "invocations": {}, "pending": []}


def damaged_states() -> list[tuple[str, bytes | None]]:
    """(case, bytes of the state file); None means: a directory where the file should be."""
    valid = json.dumps(_valid_state(), indent=2).encode()
    with_record = _valid_state()
    with_record["resources"] = {"endpoint.x": {"type": "endpoint", "name": 7}}
    return [
        ("empty", b""),
        ("whitespace", b"  \n\n"),
        ("truncated", valid[: len(valid) // 2]),
        ("not_json", b"this is not json\n"),
        ("json_array", b"[]"),
        ("json_string", b'"state"'),
        ("wrong_types", json.dumps({**_valid_state(), "serial": "3", "resources": []}).encode()),
        ("newer_version", json.dumps({**_valid_state(), "version": 99}).encode()),
        ("version_as_string", json.dumps({**_valid_state(), "version": "1"}).encode()),
        ("missing_lineage", json.dumps({k: v for k, v in _valid_state().items() if k != "lineage"}).encode()),
        ("bad_resource_record", json.dumps(with_record).encode()),
        ("bad_pending_entry", json.dumps({**_valid_state(), "pending": [{"op": "create"}]}).encode()),
        ("binary", bytes(random.Random(5).randrange(256) for _ in range(2048))),
        ("latin1", json.dumps({**_valid_state(), "lineage": "l\u00e9"}, ensure_ascii=False).encode("latin-1")),
        ("nul_bytes", valid[:20] + b"\x00" * 10 + valid[20:]),
        ("deeply_nested", b'{"version": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("directory", None),
    ]


STATE_COMMANDS = (
    ["plan", "-f", str(LEPTON_TWO_TASKS)],
    ["apply", "-f", str(LEPTON_TWO_TASKS), "--auto-approve"],
    ["destroy", "--all", "--auto-approve"],
    ["show"],
    ["status", "--json"],
    ["state", "list"],
)


# -- running them ----------------------------------------------------------------------------------


@dataclass
class Verdict:
    case: BadInput
    result: Result
    problems: list[str]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file under ``folder`` with its bytes (directories as None). The empty ``*.lock`` file a
    writer creates to hold its OS lock is left out; its metadata file must be gone again."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")) if folder.exists() else []:
        rel = str(path.relative_to(folder))
        if path.name.endswith(".lock") and path.is_file() and path.stat().st_size == 0:
            continue
        found[rel] = None if path.is_dir() else path.read_bytes()
    return found


def judge(case: BadInput, result: Result) -> list[str]:
    problems = []
    if result.code != 1:
        problems.append(f"exit code {result.code}, expected 1")
    if "Traceback" in result.text:
        problems.append("a traceback")
    if not result.err.strip():
        problems.append("no error message on stderr")
    else:
        missing = [m for m in case.mentions if m.lower() not in result.err.lower()]
        if missing:
            problems.append(f"the error does not name {missing}")
    if result.seconds > HANG_LIMIT_S:
        problems.append(f"took {result.seconds:.1f}s (hang guard {HANG_LIMIT_S:.0f}s)")
    return problems


def run_cases(
    cases: list[BadInput],
    env: dict[str, str],
    cwd: Path,
    *,
    workers: int = 2,
    judge_with: Callable[[BadInput, Result], list[str]] = judge,
) -> list[Verdict]:
    def one(case: BadInput) -> Verdict:
        result = nimctl(case.args, env, cwd=cwd, timeout=HANG_LIMIT_S + 30, memory_bytes=MEMORY_LIMIT)
        return Verdict(case, result, judge_with(case, result))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, cases))


def describe(verdicts: list[Verdict]) -> str:
    bad = [v for v in verdicts if v.problems]
    return "\n".join(f"{v.case.name}: {'; '.join(v.problems)}\n    {v.result.err.strip()[:300]}" for v in bad)


def wait_quiet(seconds: float = 0.2) -> None:
    time.sleep(seconds)  # let the emulator log any request still in flight


# -- whole batches (shared by the tests and bench/reliability.py) ---------------------------------


def untouched_problems(sandbox: Any, before: dict[str, bytes | None], emulator: Any) -> list[str]:
    wait_quiet()
    problems = []
    if snapshot(sandbox.state_dir) != before:
        problems.append("the state directory changed")
    if (sandbox.state_dir / "nimctl.state.json.lock.info").exists():
        problems.append("a lock metadata file was left behind")
    if emulator.requests:
        problems.append(f"platform calls: {[f'{r.method} {r.route}' for r in emulator.requests]}")
        emulator.clear_requests()
    return problems


def run_state_cases(sandbox: Any, emulator: Any, commands: tuple[list[str], ...]) -> tuple[list[Verdict], list[str]]:
    """Every damaged state file under every command: (verdicts, directory/platform problems)."""
    import shutil

    verdicts: list[Verdict] = []
    problems: list[str] = []
    for name, data in damaged_states():
        shutil.rmtree(sandbox.state_dir)
        sandbox.state_dir.mkdir(mode=0o700)
        if data is None:
            sandbox.state_path.mkdir()
        else:
            sandbox.state_path.write_bytes(data)
        before = snapshot(sandbox.state_dir)
        runs = [
            BadInput(f"{' '.join(args[:2])} with a {name} state", list(args), ["nimctl.state.json"])
            for args in commands
        ]
        verdicts += run_cases(runs, sandbox.env, sandbox.root, workers=1)  # writers take the state lock
        problems += [f"{name}: {p}" for p in untouched_problems(sandbox, before, emulator)]
    return verdicts, problems


def run_plan_file_cases(sandbox: Any, emulator: Any, folder: Path) -> tuple[list[Verdict], list[str]]:
    """Bad plan files given to ``apply``, and a good plan applied to another state (lineage)."""
    from nimctl.state.model import State
    from nimctl.state.store import StateStore

    folder.mkdir(parents=True, exist_ok=True)
    good_path = folder / "good.plan"
    made = sandbox.plan("--out", str(good_path))
    if made.code != 0:
        return [], [f"could not save a plan: {made.describe()}"]
    good = json.loads(good_path.read_text())
    text = good_path.read_text()
    files = {
        "empty": "",
        "not_json": "plan: yes\n",
        "json_array": "[]",
        "wrong_kind": json.dumps({**good, "kind": "terraform-plan"}),
        "newer_version": json.dumps({**good, "version": 99}),
        "missing_sections": json.dumps({"kind": good["kind"], "version": good["version"]}),
        "wrong_types": json.dumps({**good, "plan": "everything", "serial": "many"}),
        "truncated": text[: len(text) // 2],
        "binary": "\x00\x01\x02\x7f",
        "a_state_file": sandbox.state_path.read_text(),
        "deeply_nested": "[" * 100_000 + "]" * 100_000,
    }
    cases = []
    for name, content in files.items():
        path = folder / f"{name}.plan"
        path.write_text(content)
        cases.append(BadInput(f"apply a {name} plan", ["apply", str(path), "--auto-approve"], [path.name]))
    (folder / "a_directory.plan").mkdir(exist_ok=True)
    cases.append(
        BadInput("apply a directory as a plan", ["apply", str(folder / "a_directory.plan")], ["a_directory.plan"])
    )
    cases.append(BadInput("apply a missing plan", ["apply", str(folder / "gone.plan")], ["gone.plan"]))
    emulator.clear_requests()
    before = snapshot(sandbox.state_dir)
    verdicts = run_cases(cases, sandbox.env, sandbox.root, workers=1)  # each apply takes the state lock
    problems = untouched_problems(sandbox, before, emulator)
    other_state = folder / "other" / "nimctl.state.json"
    StateStore(other_state).write(State())
    other_before = other_state.read_bytes()
    lineage = BadInput(
        "apply the plan of another state file", ["apply", str(good_path), "--auto-approve"], ["stale", "lineage"]
    )
    verdicts += run_cases([lineage], {**sandbox.env, "NIMCTL_STATE": str(other_state)}, sandbox.root)
    if other_state.read_bytes() != other_before:
        problems.append("the other state file changed")
    problems += untouched_problems(sandbox, before, emulator)
    return verdicts, problems
