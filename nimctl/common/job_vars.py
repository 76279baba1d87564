"""The names of the variables nimctl gives every job it runs: the contract between the job specs
nimctl builds (``nimctl.stack.specs.job_env``) and what reads them: the built-in tasks inside the
job (``nimctl.builtin_tasks``), the apply-time rendering of a job spec, and the CLI reading a
recorded spec back. Standard library only: a job process imports it.
"""

from __future__ import annotations

ENDPOINT_URL = "NIMCTL_ENDPOINT_URL"  # the server's base URL (no /v1)
MODEL_ID = "NIMCTL_MODEL_ID"  # the served model name
API_KEY_ENV = "NIMCTL_API_KEY_ENV"  # the name of the variable holding the endpoint's key
OUTPUT_DIR = "NIMCTL_OUTPUT_DIR"  # where the job writes its results
TASK_PARAMS = "NIMCTL_TASK_PARAMS"  # the task's params, a JSON object
