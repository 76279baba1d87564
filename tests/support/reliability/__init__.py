"""The reliability suite's machinery (tests/reliability and bench/reliability.py,
bench/random_kills.py): the sandboxes and checks (harness), malformed input (hostile), the
random-time kill campaign (random_kills) and state directories on a small file system of their
own (storage)."""
