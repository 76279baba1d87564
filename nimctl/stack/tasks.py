"""Task name → what runs it: a harness container (NeMo Evaluator), or a nimctl built-in.

Names are written as ``harness.task`` (``lm-evaluation-harness.ifeval``) or bare (``gsm8k``).
A bare name that several harnesses define is ambiguous unless the preference table below
says which one nimctl picks; the choice is reported back as a note so the user sees it.

The bundled mapping covers the common tasks of the NeMo Evaluator containers, each harness
pinned to one published tag. If ``nemo_evaluator_launcher`` is importable, its full mapping
answers the names the bundled one does not know (imported only then: it is slow to import).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from nimctl.common.errors import NimctlError

EVAL_FACTORY_REGISTRY = "nvcr.io/nvidia/eval-factory"
BUILTIN_HARNESS = "nimctl"
BUILTIN_TASKS = ("smoke", "perf")
ENDPOINT_TYPES = ("chat", "completions", "embedding", "ranking", "vlm")


class Harness(NamedTuple):
    container: str  # image repository under EVAL_FACTORY_REGISTRY
    tag: str
    tasks: dict[str, tuple[str, ...]]  # endpoint type → task names

    @property
    def image(self) -> str:
        return f"{EVAL_FACTORY_REGISTRY}/{self.container}:{self.tag}"


def _seq(prefix: str, suffixes: str, postfix: str = "") -> tuple[str, ...]:
    return tuple(f"{prefix}{s}{postfix}" for s in suffixes.split())


_RULER_LENGTHS = "4k 8k 16k 32k 64k 128k 256k 512k 1m"

# Harness keys are the names the NeMo Evaluator uses in qualified task names; the image
# repository is not always the same word (``simple_evals`` → ``simple-evals``).
HARNESSES: dict[str, Harness] = {
    "lm-evaluation-harness": Harness(
        "lm-evaluation-harness",
        "26.01",
        {
            "chat": (
                "ifeval",
                "mmlu_instruct",
                "mmlu_cot_0_shot_chat",
                "mmlu_pro_instruct",
                "mmlu_redux_instruct",
                "gsm8k_cot_instruct",
                "gsm8k_cot_zeroshot",
                "gsm8k_cot_llama",
                "mgsm_cot_chat",
                "arc_challenge_chat",
                "bbh_instruct",
                "gpqa_diamond_cot",
                "humaneval_instruct",
                "mbpp_plus_chat",
                "bbq_chat",
                "mmlu_prox_chat",
            ),
            "completions": (
                "mmlu",
                "mmlu_pro",
                "mmlu_redux",
                "gsm8k",
                "mgsm",
                "hellaswag",
                "hellaswag_multilingual",
                "winogrande",
                "arc_challenge",
                "arc_multilingual",
                "truthfulqa",
                "bbh",
                "musr",
                "gpqa",
                "commonsense_qa",
                "openbookqa",
                "piqa",
                "social_iqa",
                "wikilingua",
                "agieval",
                "global_mmlu",
                "mmlu_logits",
                "mbpp_plus_completions",
                "bbq_completions",
                "mmlu_prox_completions",
                "wikitext",
            ),
        },
    ),
    "simple_evals": Harness(
        "simple-evals",
        "26.01",
        {
            "chat": (
                "AIME_2025",
                "AIME_2024",
                "AA_AIME_2024",
                "AA_math_test_500",
                "math_test_500",
                "math_test_500_nemo",
                "aime_2025_nemo",
                "aime_2024_nemo",
                "gpqa_diamond",
                "gpqa_diamond_nemo",
                "gpqa_extended",
                "gpqa_main",
                "humaneval",
                "humanevalplus",
                "mgsm",
                "mmlu",
                "mmlu_pro",
                "simpleqa",
                "healthbench",
                "browsecomp",
            ),
        },
    ),
    "bigcode-evaluation-harness": Harness(
        "bigcode-evaluation-harness",
        "26.01",
        {
            "chat": ("mbpp-chat", "mbppplus-chat", "mbppplus_nemo", "humaneval_instruct"),
            "completions": (
                "humaneval",
                "humanevalplus",
                "mbpp-completions",
                "mbppplus-completions",
                *_seq("multiple-", "py cpp java js rs go"),
            ),
        },
    ),
    "livecodebench": Harness(
        "livecodebench",
        "26.01",
        {
            "chat": (
                "livecodebench_0724_0125",
                "livecodebench_0824_0225",
                "livecodebench_aa_v2",
                "codegeneration_release_latest",
                "codegeneration_release_v5",
                "codegeneration_release_v6",
            ),
        },
    ),
    "mtbench": Harness("mtbench", "26.01", {"chat": ("mtbench", "mtbench-cor1")}),
    "bfcl": Harness(
        "bfcl",
        "26.01",
        {
            "chat": ("bfclv3", "bfclv3_ast", "bfclv3_ast_prompting", "bfclv2", "bfclv2_ast", "bfclv2_ast_prompting"),
        },
    ),
    "hle": Harness("hle", "26.01", {"chat": ("hle", "hle_aa_v2")}),
    "scicode": Harness("scicode", "26.01", {"chat": ("scicode", "scicode_background", "scicode_aa_v2")}),
    "ifbench": Harness("ifbench", "26.01", {"chat": ("ifbench", "ifbench_aa_v2")}),
    "ruler": Harness(
        "long-context-eval",
        "26.01",
        {
            "chat": ("ruler-chat", *_seq("ruler-", _RULER_LENGTHS, "-chat")),
            "completions": ("ruler-completions", *_seq("ruler-", _RULER_LENGTHS, "-completions")),
        },
    ),
    "garak": Harness("garak", "26.01", {"chat": ("garak",), "completions": ("garak-completions",)}),
    "mteb": Harness(
        "mteb",
        "26.01",
        {
            "embedding": ("fiqa", "nano_fiqa", "hotpotqa", "nq", "miracl", "miracl_lite", "mlqa", "mldr"),
        },
    ),
    "mmath": Harness("mmath", "26.01", {"chat": _seq("mmath_", "en zh ar es fr ja ko pt th vi")}),
    "tooltalk": Harness("tooltalk", "26.01", {"chat": ("tooltalk",)}),
    "safety_eval": Harness("safety-harness", "25.11", {"chat": ("aegis_v2", "aegis_v2_reasoning", "wildguard")}),
    "nemo_skills": Harness(
        "nemo-skills",
        "26.01",
        {
            "chat": (
                "ns_aime2024",
                "ns_aime2025",
                "ns_gpqa",
                "ns_ifeval",
                "ns_mmlu",
                "ns_mmlu_pro",
                "ns_livecodebench",
                "ns_hle",
                "ns_scicode",
                "ns_bfcl_v3",
            ),
        },
    ),
    "tau2_bench": Harness(
        "tau2-bench",
        "26.01",
        {
            "chat": ("tau2_bench_telecom", "tau2_bench_airline", "tau2_bench_retail"),
        },
    ),
    "genai_perf_eval": Harness(
        "genai-perf",
        "26.01",
        {
            "chat": ("genai_perf_summarization", "genai_perf_generation"),
            "completions": ("genai_perf_summarization_completions", "genai_perf_generation_completions"),
        },
    ),
    # Contamination detection: reuses the names of the benchmarks it checks (ifeval, hle, ...).
    "codec": Harness(
        "contamination-detection",
        "26.01",
        {
            "completions": (
                "ifeval",
                "gpqa_diamond",
                "hle",
                "scicode",
                "ifbench",
                "frames",
                "bbq",
                "mmlu_test",
                "gsm8k_test",
                "mmlu_pro_test",
                "openai_humaneval",
            ),
        },
    ),
}

# Bare names defined by several harnesses that nimctl nevertheless resolves, and to what.
# ``ifeval`` is the seed document's own example: it means the lm-evaluation-harness variant.
PREFERRED_HARNESS: dict[str, str] = {
    "ifeval": "lm-evaluation-harness",
    "hle": "hle",
    "scicode": "scicode",
    "ifbench": "ifbench",
}


@dataclass(frozen=True)
class ResolvedTask:
    """What a task name means: which harness runs it, in which image, against which API."""

    query: str  # the name as written
    harness: str
    task: str
    image: str | None  # None for nimctl built-ins (they run in nimctl's own Python)
    endpoint_type: str
    note: str | None = None  # set when nimctl made a choice the user should see

    @property
    def qualified(self) -> str:
        return f"{self.harness}.{self.task}"

    @property
    def builtin(self) -> bool:
        return self.harness == BUILTIN_HARNESS


class UnknownTask(NimctlError):
    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = (
            f"did you mean {', '.join(suggestions)}?"
            if suggestions
            else ("use a known task (harness.task), or give the task a `container:` or `command:`")
        )
        super().__init__(f"unknown task {name!r}", hint)
        self.name = name
        self.suggestions = suggestions


class AmbiguousTask(NimctlError):
    def __init__(self, name: str, candidates: list[str]) -> None:
        harnesses = ", ".join(c.split(".", 1)[0] for c in candidates)
        super().__init__(
            f"task {name!r} is ambiguous: harnesses {harnesses} all define it",
            f"write the qualified name, one of: {', '.join(candidates)}",
        )
        self.name = name
        self.candidates = candidates


class _Entry(NamedTuple):
    harness: str
    task: str
    image: str | None
    endpoint_type: str


@lru_cache(maxsize=1)
def _bundled() -> dict[tuple[str, str], _Entry]:
    table: dict[tuple[str, str], _Entry] = {}
    for harness_name, harness in HARNESSES.items():
        for endpoint_type, names in harness.tasks.items():
            for task in names:
                table[(harness_name, task)] = _Entry(harness_name, task, harness.image, endpoint_type)
    for task in BUILTIN_TASKS:
        table[(BUILTIN_HARNESS, task)] = _Entry(BUILTIN_HARNESS, task, None, "chat")
    return table


@lru_cache(maxsize=1)
def _by_bare_name() -> dict[str, list[_Entry]]:
    index: dict[str, list[_Entry]] = {}
    for entry in _bundled().values():
        if entry.harness != BUILTIN_HARNESS:
            index.setdefault(entry.task, []).append(entry)
    return index


def _launcher_mapping() -> dict[tuple[str, str], _Entry]:
    """The installed NeMo Evaluator launcher's mapping, if there is one (else empty)."""
    try:
        from nemo_evaluator_launcher.common.mapping import load_tasks_mapping  # type: ignore
    except Exception:  # not installed, or an incompatible version: the bundled mapping stands
        return {}
    try:
        raw: Any = load_tasks_mapping()
    except Exception:
        return {}
    table: dict[tuple[str, str], _Entry] = {}
    if not isinstance(raw, dict):
        return table
    for key, value in raw.items():
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(value, dict)):
            continue
        image = value.get("container")
        endpoint_type = value.get("endpoint_type") or "chat"
        if isinstance(image, str):
            table[(str(key[0]), str(key[1]))] = _Entry(str(key[0]), str(key[1]), image, str(endpoint_type))
    return table


def _resolved(query: str, entry: _Entry, note: str | None = None) -> ResolvedTask:
    return ResolvedTask(
        query=query,
        harness=entry.harness,
        task=entry.task,
        image=entry.image,
        endpoint_type=entry.endpoint_type,
        note=note,
    )


def resolve_task(name: str) -> ResolvedTask:
    """Resolve a task name; raises UnknownTask (with close matches) or AmbiguousTask."""
    name = name.strip()
    bundled = _bundled()
    harness, dot, task = name.partition(".")
    if dot and (harness, task) in bundled:
        return _resolved(name, bundled[(harness, task)])
    candidates = _by_bare_name().get(name, [])
    if len(candidates) == 1:
        return _resolved(name, candidates[0])
    if len(candidates) > 1:
        return _pick_preferred(name, candidates)
    return _resolve_with_launcher(name)


def _pick_preferred(name: str, candidates: list[_Entry]) -> ResolvedTask:
    preferred = PREFERRED_HARNESS.get(name)
    for entry in candidates:
        if entry.harness == preferred:
            others = ", ".join(f"{c.harness}.{c.task}" for c in candidates if c is not entry)
            note = (
                f"{name} resolved to {entry.harness}.{entry.task} (nimctl's preferred choice; "
                f"also defined as {others} - write the qualified name to choose)"
            )
            return _resolved(name, entry, note)
    raise AmbiguousTask(name, sorted(f"{c.harness}.{c.task}" for c in candidates))


def _resolve_with_launcher(name: str) -> ResolvedTask:
    launcher = _launcher_mapping()
    harness, dot, task = name.partition(".")
    if dot and (harness, task) in launcher:
        return _resolved(
            name, launcher[(harness, task)], f"{name} resolved through the installed nemo_evaluator_launcher mapping"
        )
    matches = [e for (h, t), e in launcher.items() if t == name]
    if len(matches) == 1:
        return _resolved(
            name,
            matches[0],
            f"{name} resolved to {matches[0].harness}.{matches[0].task} "
            "through the installed nemo_evaluator_launcher mapping",
        )
    if len(matches) > 1:
        raise AmbiguousTask(name, sorted(f"{e.harness}.{e.task}" for e in matches))
    raise UnknownTask(name, suggest_tasks(name))


def suggest_tasks(name: str, limit: int = 3) -> list[str]:
    """Known task names close to ``name`` (best first)."""
    names = known_task_names()
    lowered = {n.lower(): n for n in names}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.6)
    return [lowered[h] for h in hits]


@lru_cache(maxsize=1)
def known_task_names() -> tuple[str, ...]:
    """Every name resolve_task accepts from the bundled mapping: qualified names, and bare
    names that are unique or have a preferred resolution."""
    names = {f"{h}.{t}" for (h, t) in _bundled()}
    for bare, entries in _by_bare_name().items():
        if len(entries) == 1 or bare in PREFERRED_HARNESS:
            names.add(bare)
    return tuple(sorted(names))
