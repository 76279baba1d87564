"""Task name resolution: the bundled launcher table, preferred bare names, built-ins, helpful errors."""

from __future__ import annotations

import re

import pytest

from nimctl.stack.tasks import (
    PREFERRED_HARNESS,
    AmbiguousTask,
    UnknownTask,
    known_task_names,
    list_tasks,
    resolve_task,
    task_table,
    version_key,
)

IMAGE_RE = re.compile(r"^nvcr\.io/nvidia/eval-factory/[a-z0-9-]+:26\.03$")

# The tasks reference/launcher.md names as the launcher's (harness, endpoint type).
LAUNCHER_TASKS = [
    ("lm-evaluation-harness.ifeval", "lm-evaluation-harness", "chat"),
    ("gsm8k", "lm-evaluation-harness", "completions"),
    ("simple_evals.gpqa_diamond", "simple_evals", "chat"),
    ("simple_evals.mmlu_pro", "simple_evals", "chat"),
    ("AIME_2025", "simple_evals", "chat"),
    ("math_test_500_nemo", "simple_evals", "chat"),
    ("bigcode-evaluation-harness.humaneval", "bigcode-evaluation-harness", "completions"),
    ("mbpp-chat", "bigcode-evaluation-harness", "chat"),
    ("livecodebench_0724_0125", "livecodebench", "chat"),
    ("mtbench", "mtbench", "chat"),
    ("bfclv3_ast", "bfcl", "chat"),
    ("hle.hle", "hle", "chat"),
    ("scicode.scicode", "scicode", "chat"),
    ("ruler-128k-chat", "ruler", "chat"),
    ("garak", "garak", "chat"),
    ("fiqa", "mteb", "embedding"),
]


@pytest.mark.parametrize(("name", "harness", "endpoint_type"), LAUNCHER_TASKS)
def test_launcher_reference_tasks_resolve(name: str, harness: str, endpoint_type: str) -> None:
    task = resolve_task(name)
    assert (task.harness, task.endpoint_type) == (harness, endpoint_type)
    assert task.qualified.endswith("." + name.split(".")[-1])
    assert task.note is None


def test_every_harness_pins_one_eval_factory_image() -> None:
    images: dict[str, set[str]] = {}
    for row in task_table().harness_rows():
        images.setdefault(row.harness, set()).add(row.container or "")
    assert all(len(found) == 1 for found in images.values()), images
    for harness, (image,) in images.items():
        assert IMAGE_RE.match(image), (harness, image)
    assert images["ruler"] == {"nvcr.io/nvidia/eval-factory/long-context-eval:26.03"}
    assert images["simple_evals"] == {"nvcr.io/nvidia/eval-factory/simple-evals:26.03"}


def test_the_bundled_table_is_the_launchers_whole_mapping() -> None:
    table = task_table()
    assert (table.origin, table.version) == ("bundled", "0.2.6")
    rows = table.harness_rows()
    assert len(rows) == 421 and len({r.harness for r in rows}) == 23
    assert {r.endpoint_type for r in rows} == {"chat", "completions", "embedding", "vlm"}
    for row in rows:  # every qualified name resolves to its own row, with no note
        task = resolve_task(row.qualified)
        assert (task.image, task.endpoint_type, task.note) == (row.container, row.endpoint_type, None)


def test_every_bare_name_resolves_or_is_reported_ambiguous() -> None:
    ambiguous = task_table().ambiguous()
    assert set(ambiguous) == {
        "gpqa_diamond",
        "hle",
        "humaneval",
        "humaneval_instruct",
        "humanevalplus",
        "ifbench",
        "ifeval",
        "mgsm",
        "mmlu",
        "mmlu_pro",
        "scicode",
    }  # the launcher reference's list
    for row in task_table().harness_rows():
        if row.task not in ambiguous:
            assert resolve_task(row.task).qualified == row.qualified
        elif row.task in PREFERRED_HARNESS:
            assert resolve_task(row.task).harness == PREFERRED_HARNESS[row.task]
        else:
            with pytest.raises(AmbiguousTask):
                resolve_task(row.task)


def test_list_tasks_filters_on_the_qualified_name() -> None:
    everything = list_tasks()
    assert len(everything) == 423 and [r.qualified for r in everything[-2:]] == ["nimctl.smoke", "nimctl.perf"]
    assert {r.qualified for r in list_tasks("IFEVAL")} == {
        "lm-evaluation-harness.ifeval",
        "codec.ifeval",
        "nemo_skills.ns_ifeval",
    }
    assert {r.harness for r in list_tasks("simple_evals.")} == {"simple_evals"}
    assert list_tasks("no-such-task-anywhere") == []


def test_version_order_is_numeric() -> None:
    assert version_key("0.2.10") > version_key("0.2.6") > version_key("0.2.5rc1") > version_key("0.1.99")
    assert version_key("0.2.6") == version_key("0.2.6.post1")[:3]


def test_seed_ifeval_resolves_to_lm_eval_and_says_so() -> None:
    task = resolve_task("ifeval")
    assert task.qualified == "lm-evaluation-harness.ifeval"
    assert task.image == "nvcr.io/nvidia/eval-factory/lm-evaluation-harness:26.03"
    assert task.endpoint_type == "chat"
    assert task.note is not None and task.note.startswith("ifeval resolved to lm-evaluation-harness.ifeval")
    assert "codec.ifeval" in task.note  # names the alternative and how to pick it


def test_preferences_point_at_real_candidates() -> None:
    for bare, harness in PREFERRED_HARNESS.items():
        assert resolve_task(bare).harness == harness


def test_qualified_names_win_without_a_note() -> None:
    task = resolve_task("codec.ifeval")
    assert (task.harness, task.task, task.note) == ("codec", "ifeval", None)
    assert resolve_task("lm-evaluation-harness.ifeval").note is None


@pytest.mark.parametrize(
    ("name", "harnesses"),
    [
        ("mmlu", {"lm-evaluation-harness", "simple_evals"}),
        ("humaneval", {"simple_evals", "bigcode-evaluation-harness"}),
        ("gpqa_diamond", {"simple_evals", "codec"}),
    ],
)
def test_ambiguous_bare_names_list_the_harnesses(name: str, harnesses: set[str]) -> None:
    with pytest.raises(AmbiguousTask) as caught:
        resolve_task(name)
    err = caught.value
    assert {c.split(".")[0] for c in err.candidates} == harnesses
    assert all(c.endswith("." + name) for c in err.candidates)
    for harness in harnesses:
        assert harness in err.message
    assert "qualified" in (err.hint or "")


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("ifevl", "ifeval"),
        ("gsm8", "gsm8k"),
        ("lm-evaluation-harness.ifevall", "lm-evaluation-harness.ifeval"),
        ("nimctl.smok", "nimctl.smoke"),
    ],
)
def test_unknown_names_suggest_close_matches(typo: str, expected: str) -> None:
    with pytest.raises(UnknownTask) as caught:
        resolve_task(typo)
    assert expected in caught.value.suggestions
    assert expected in (caught.value.hint or "")


def test_unknown_name_without_close_match_explains_the_ways_out() -> None:
    with pytest.raises(UnknownTask) as caught:
        resolve_task("zzzzqqqq")
    assert caught.value.suggestions == []
    assert "container" in (caught.value.hint or "") and "command" in (caught.value.hint or "")


def test_builtins() -> None:
    for name in ("nimctl.smoke", "nimctl.perf"):
        task = resolve_task(name)
        assert task.builtin and task.image is None and task.harness == "nimctl"
    assert {"nimctl.smoke", "nimctl.perf"} <= set(known_task_names())


def test_known_names_hold_qualified_and_usable_bare_names_only() -> None:
    names = set(known_task_names())
    assert {"lm-evaluation-harness.mmlu", "simple_evals.mmlu", "gsm8k", "ifeval"} <= names
    assert "mmlu" not in names  # ambiguous without a preference
    for name in names:
        resolve_task(name)  # every listed name resolves


def test_launcher_is_not_needed() -> None:
    import importlib.util

    assert importlib.util.find_spec("nemo_evaluator_launcher") is None  # not installed here
    assert resolve_task("AA-LCR.aa_lcr").image == "nvcr.io/nvidia/eval-factory/aa-lcr:26.03"
    with pytest.raises(UnknownTask):
        resolve_task("some_launcher_only_task")


def listing(*args: str) -> tuple[int, list[str]]:
    import io

    from nimctl.cli.commands.tasks import run_tasks
    from nimctl.cli.ui import UI

    out = io.StringIO()
    code = run_tasks(UI(out=out, err=out), args[0] if args else None, json_output=False)
    return code, out.getvalue().splitlines()


def test_listing_shows_each_image_once_and_fits_100_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    code, lines = listing()
    assert code == 0
    assert max(len(line) for line in lines) <= 100
    headers = [line for line in lines if re.match(r"^\S+  \(\d+ tasks?; ", line)]
    assert len(headers) == 24  # 23 harnesses and nimctl's built-ins
    assert "lm-evaluation-harness  (133 tasks; nvcr.io/nvidia/eval-factory/lm-evaluation-harness:26.03)" in headers
    assert sum("eval-factory/lm-evaluation-harness:26.03" in line for line in lines) == 1
    assert any(line.split()[:2] == ["ifeval*", "chat"] for line in lines)  # ambiguous bare name marked
    assert any(line.startswith("421 tasks in 23 harnesses from nemo-evaluator-launcher 0.2.6") for line in lines)


def test_listing_filters_and_suggests() -> None:
    code, lines = listing("ifbench")
    assert code == 0 and lines[-1].endswith("ifbench means ifbench.ifbench.")
    assert lines[0].startswith("ifbench  (2 tasks; nvcr.io/nvidia/eval-factory/ifbench:26.03)")
    code, lines = listing("ifevl")
    assert code == 1 and "did you mean ifeval" in lines[0]
