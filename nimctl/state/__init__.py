"""Local state: the record of what nimctl manages, the intent journal, and the lock."""
