"""nimctl's built-in evaluation tasks (``nimctl.smoke``, ``nimctl.perf``), each run as its own
process inside a job (``python -m nimctl.builtin_tasks.smoke``) and configured through the
environment; ``common`` holds their shared plumbing and describes the contract."""
