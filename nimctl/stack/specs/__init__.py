"""Spec builders: from a composed config to the exact specs each platform takes.

What both platforms share, one job per module: ``deployment`` (the model server: command, env,
tokens), ``task_plan`` (each task: what runs, with which run config), ``env`` (env vars as Lepton
env entries), ``key_wiring`` (how the endpoint key reaches a job), ``job_env`` (a job's
environment), ``run_config`` (the NeMo Evaluator run config document and its YAML),
``inputs_hash``, ``scripts`` (the shell scripts jobs and servers run), ``markers`` (apply-time
values), ``values``, ``names`` and ``problems``. ``lepton`` and ``local`` shape that into the
Lepton API's JSON and the local provider's dicts. ``nimctl.stack.builder`` drives them.
"""
