"""Test support, in one place: what the test packages (and bench/) share besides fixtures, which
stay in conftest.py files. The real CLI as a subprocess, the emulator seen from outside, in-memory
platforms with the engine driven in-process, desired resources, plans, states and configs built in
code, a throwaway PostgreSQL server, and the reliability suite's machinery. bench/ imports from
here; nothing here or in the tests imports from bench/."""
