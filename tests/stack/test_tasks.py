"""Task name resolution: bundled mapping, preferred bare names, built-ins, helpful errors."""

from __future__ import annotations

import re
import sys

import pytest

from nimctl.stack.tasks import (
    HARNESSES,
    PREFERRED_HARNESS,
    AmbiguousTask,
    UnknownTask,
    known_task_names,
    resolve_task,
)

IMAGE_RE = re.compile(r"^nvcr\.io/nvidia/eval-factory/[a-z0-9-]+:\d{2}\.\d{2}$")

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
    assert task.image == HARNESSES[harness].image
    assert task.qualified.endswith("." + name.split(".")[-1])


def test_every_harness_pins_one_eval_factory_image() -> None:
    for name, harness in HARNESSES.items():
        assert IMAGE_RE.match(harness.image), (name, harness.image)
    assert HARNESSES["ruler"].image == "nvcr.io/nvidia/eval-factory/long-context-eval:26.01"
    assert HARNESSES["simple_evals"].image.startswith("nvcr.io/nvidia/eval-factory/simple-evals:")


def test_mapping_is_large_enough_to_be_useful() -> None:
    qualified = [n for n in known_task_names() if "." in n and not n.startswith("nimctl.")]
    assert len(qualified) >= 150


def test_seed_ifeval_resolves_to_lm_eval_and_says_so() -> None:
    task = resolve_task("ifeval")
    assert task.qualified == "lm-evaluation-harness.ifeval"
    assert task.image == "nvcr.io/nvidia/eval-factory/lm-evaluation-harness:26.01"
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


def test_launcher_mapping_is_optional() -> None:
    import importlib.util

    assert importlib.util.find_spec("nemo_evaluator_launcher") is None  # not installed here
    with pytest.raises(UnknownTask):
        resolve_task("some_launcher_only_task")


def test_installed_launcher_mapping_answers_unknown_names(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for the external nemo_evaluator_launcher package, with its mapping's shape:
    # {(harness, task): {"container": ..., "endpoint_type": ..., ...}}.
    package = tmp_path / "nemo_evaluator_launcher" / "common"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "mapping.py").write_text(
        "def load_tasks_mapping():\n"
        "    image = 'nvcr.io/nvidia/eval-factory/newharness:26.02'\n"
        "    return {('newharness', 'fresh_task'): {'container': image, 'endpoint_type': 'completions'},\n"
        "            ('a', 'twin'): {'container': image}, ('b', 'twin'): {'container': image}}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("nemo_evaluator_launcher")]:
        monkeypatch.delitem(sys.modules, name)
    task = resolve_task("fresh_task")
    assert (task.qualified, task.endpoint_type) == ("newharness.fresh_task", "completions")
    assert task.image == "nvcr.io/nvidia/eval-factory/newharness:26.02"
    assert "nemo_evaluator_launcher" in (task.note or "")
    assert resolve_task("newharness.fresh_task").task == "fresh_task"
    with pytest.raises(AmbiguousTask):
        resolve_task("twin")
    assert resolve_task("ifeval").harness == "lm-evaluation-harness"  # the bundled mapping still decides
