"""The state: the record of what nimctl manages (``model``), kept in a file (``store``, with its
journal, backups and lock) or in PostgreSQL for a team (``postgres``), both behind the interfaces
of ``backend`` (``open_state`` picks one from ``--state``); reading, validating, migrating and
encoding it, the secret guard before it is stored, and ``state rm`` / ``push`` / ``pull``."""
