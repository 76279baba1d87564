"""Generated stack files for the scaling tests and bench/: ``write_stacks(directory, count)`` writes
``count`` Lepton stacks (one NIM endpoint and one evaluation job per task in ``TASKS`` each)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

TASKS = ("lm-evaluation-harness.ifeval", "gsm8k", "simple_evals.gpqa_diamond")

STACK_TEMPLATE = """\
defaults:
  - execution: lepton/default
  - deployment: nim
  - _self_
execution:
  output_dir: results/{name}
deployment:
  image: nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6
  served_model_name: meta/llama-3.1-8b-instruct
  lepton_config:
    resource_shape: gpu.1xh200
    min_replicas: 1
    max_replicas: 1
    api_tokens:
      - value_from:
          token_name_ref: ENDPOINT_API_KEY
evaluation:
  tasks:
{tasks}
"""


def write_stacks(directory: Path, count: int, tasks: Sequence[str] = TASKS) -> Path:
    """``count`` stack files (one endpoint and ``len(tasks)`` jobs each) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    task_lines = "\n".join(f"    - name: {t}" for t in tasks)
    for i in range(count):
        name = f"stack-{i:04d}"
        (directory / f"{name}.yaml").write_text(STACK_TEMPLATE.format(name=name, tasks=task_lines))
    return directory
