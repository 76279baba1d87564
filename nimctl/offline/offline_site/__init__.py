"""A directory to put on ``PYTHONPATH`` of a harness run without network: its ``sitecustomize``
makes spaCy's model download give up quietly offline; ``python -m nimctl.offline.offline_site``
prints the directory."""
