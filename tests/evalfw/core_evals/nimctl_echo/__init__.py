"""A tiny offline NeMo Evaluator framework used by nimctl's tests (see tests/evalfw/README.md)."""
