"""Evaluation results: parsing, collecting, caching and reading them back (engine side, no output).

- ``nimctl.results.evalfactory``: ``results.yml`` / ``eval_factory_metrics.json`` → typed scores
  (:class:`EvalResults`, :class:`RunMetrics`), and the results.yml layout nimctl's built-ins write.
- ``nimctl.results.channel``: the markers a Lepton job prints its small result files between
  (and the shell functions that print them); ``nimctl.results.recover``: reading them back.
- ``nimctl.results.store``: the cache beside the state
  (``<state dir>/cache/results/<invocation>/<stack>.<task>/``), the collection step for a
  finished job, and :func:`invocation_results` → the document of ``nimctl results ID --json``.

Submodules are imported on use: ``nimctl validate`` and ``plan`` import none of this.
"""
