"""One module per destination, each with ``export(invocations, settings) -> ExportReport``.

``local`` writes files with the standard library; ``mlflow`` and ``wandb`` import their library
when called (optional extras).
"""
