"""Test support shared by the test packages and bench/: in-memory platforms, the engine driven
in-process, fixtures built in code."""
