"""Small helpers every stage shares, each one rule in one module: user-facing errors (``errors``),
the secret rule and redaction (``secrets``), dotted key paths (``keypath``), durations
(``durations``), name pieces (``names``), env value references (``envref``), the job environment's
variable names (``job_vars``), atomic file writes (``files``), terminal colour (``terminal``), kill
points (``checkpoints``), loopback checks (``net``) and the per-user verdict cache (``usercache``)."""
