"""Platform providers: the ``Provider`` protocol every platform implements (``base``), the
registry that picks one by platform name (``registry.get_provider``), and the Lepton and local
implementations (``lepton``, ``local``) with the retry policy, capabilities and live-state names
they share. Implementations are imported only when ``get_provider`` is asked for them, so
commands that never talk to a platform never import its SDK. This file stays a docstring: import
the module you need."""
