"""Keys that hold dots (``env_vars: {"a.b": ...}``, ``extra: {"x.y": ...}``) are legal YAML: a valid
one keeps its value, and a bad value under one is reported at its line like any other, never a
traceback. A key path joined into a dotted string cannot be split back into such keys, so every
step that finds a value again walks by the path's parts."""

from __future__ import annotations

import time

import yaml

from nimctl.config.interpolate import MAX_RESOLVED_CHARS, _expansion_size
from nimctl.config.merge import merge_layers
from nimctl.config.sources import Reporter, Source
from nimctl.config.yaml_source import SourceDoc
from nimctl.stack.builder import build_stacks
from tests.support.configs import LOCAL_MOCK, errors_of, load_one, write

EVALUATION = """
evaluation:
  tasks:
    - name: nimctl.smoke
"""


def test_a_broken_interpolation_under_a_dotted_env_name_is_reported_at_its_line(tmp_path):
    path = write(tmp_path, LOCAL_MOCK, 'deployment:\n  env_vars: {"a.b": "${oops", c: ok}\n', EVALUATION)
    [error] = errors_of(path)
    assert (error.key_path, error.line, error.column) == ("deployment.env_vars.a.b", 6, 14)
    assert error.message == "invalid interpolation"  # an env value may be a secret: its text is not shown


def test_a_broken_interpolation_under_a_dotted_key_elsewhere_says_why(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        evaluation:
          nemo_evaluator_config:
            config:
              params:
                extra:
                  "x.y": "${oops"
          tasks:
            - name: nimctl.smoke
        """,
    )
    [error] = errors_of(path)
    assert (error.key_path, error.line) == ("evaluation.nemo_evaluator_config.config.params.extra.x.y", 10)
    assert error.message.startswith("invalid interpolation: no viable alternative at input '${oops'")


def test_valid_dotted_keys_keep_their_values_with_and_without_interpolation(tmp_path, monkeypatch):
    monkeypatch.setenv("NIMCTL_TEST_DOTTED", "from-env")
    body = """
        deployment:
          env_vars:
            "a.b": {value}
            x.y: plain
        evaluation:
          nemo_evaluator_config:
            config: {{params: {{extra: {{"x.y": 1, x: {{y: 2}}}}}}}}
          tasks:
            - name: nimctl.smoke
        """
    # a value without ${...} is merged in plain Python, one with it by OmegaConf: both keep the keys
    for value, expected in (("literal", "literal"), ("${oc.env:NIMCTL_TEST_DOTTED}", "from-env")):
        path = write(tmp_path, LOCAL_MOCK, body.format(value=value))
        config = load_one(path).config
        assert config["deployment"]["env_vars"] == {"a.b": expected, "x.y": "plain"}
        assert config["evaluation"]["nemo_evaluator_config"]["config"]["params"]["extra"] == {"x.y": 1, "x": {"y": 2}}
        [stack] = build_stacks([load_one(path)])
        assert stack.endpoint is not None
        assert {"a.b": expected, "x.y": "plain"}.items() <= stack.endpoint.spec["env"].items()


def test_a_failure_caused_by_another_is_reported_once_under_a_dotted_key_too(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        deployment:
          env_vars: {"a.b": "${execution.output_dir}"}
        execution:
          output_dir: ${deployment.nope}
        """,
        EVALUATION,
    )
    assert [e.key_path for e in errors_of(path)] == ["execution.output_dir"]


def _hidden_bomb(levels: int) -> str:
    """Each level repeats the one below ten times; before each level, a dotted key spelling its
    path (a dotted string would take that key for the level, and count the level as one character)."""
    lines = ["h:"]
    for i in range(levels):
        value = "x" * 10 if i == 0 else f"${{h.l{i - 1}.v}}" * 10
        lines += [f'  "l{i}.v": s', f"  l{i}:", f'    v: "{value}"']
    return "\n".join(lines) + "\n"


def test_the_expansion_estimate_is_not_fooled_by_dotted_keys(tmp_path):
    bomb = _hidden_bomb(8)  # 10**8 characters once resolved
    assert _expansion_size(yaml.safe_load(bomb)) > MAX_RESOLVED_CHARS
    path = write(tmp_path, LOCAL_MOCK, bomb)
    started = time.monotonic()
    errors = errors_of(path)
    assert time.monotonic() - started < 60  # guards a hang, not speed
    assert [e.message for e in errors] == [
        "interpolations expand this config to more than 4 MiB; refusing to resolve them"
    ]


def test_a_list_over_a_mapping_under_a_dotted_key_is_reported_and_left_out(tmp_path):
    doc = SourceDoc(str(tmp_path / "over.yaml"), {}, {"x.a.b": (3, 5)})
    report = Reporter(doc)
    base = (Source("base.yaml", {}, "user"), {"x": {"a.b": {"k": 1}, "c": "${x.a.b}"}})
    over = (Source(doc.file, dict(doc.marks), "user"), {"x": {"a.b": [1], "d": 2}})
    merged = merge_layers([base, over], report)
    [problem] = report.problems
    assert (problem.key_path, problem.line) == ("x.a.b", 3)
    assert problem.message == "must not be a list here (the defaults hold a mapping)"
    assert merged["x"]["a.b"] == {"k": 1} and merged["x"]["d"] == 2
