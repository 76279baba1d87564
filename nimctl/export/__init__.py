"""Exporting results to where teams keep them, and putting runs side by side.

Takes finished invocations (their per-task scores and small result files, see
``nimctl.export.model``) and the launcher-compatible ``export.<dest>`` settings
(``nimctl.export.settings``); gives runs in MLflow, runs in Weights & Biases, or JSON/CSV summary
files (``nimctl.export.destinations``), and comparison tables (``nimctl.export.compare``).

Nothing here prints: the CLI renders the reports these functions return. MLflow and W&B are
optional extras (``pip install 'nimctl[mlflow]'`` / ``'nimctl[wandb]'``) imported only by the
destination that uses them; importing this package imports neither.
"""
