"""Small helpers every stage shares: typed user-facing errors, the one secret rule, loopback checks
and the per-user cache directory."""
