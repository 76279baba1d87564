"""The local platform: endpoints and jobs are processes on this machine.

Its "platform" is a registry directory, ``<state_dir>/local/``::

    endpoints/<name>.json   one record per endpoint (pid, process start time, port, spec, ...)
    endpoints/<name>.exit   how the endpoint's last process ended (written by runner.py)
    jobs/<id>.json          one record per job
    jobs/<id>.exit          how the job ended
    logs/<name>.log         endpoint output (job output goes to <output_dir>/job.log)
    salt                    salt of the spec digests kept in records

Every process is started detached (its own session, stdin from /dev/null, no shell ever) through
``runner.py`` (beside these modules), which waits for the command and writes the exit file, so an
endpoint outlives ``apply`` and a job's exit code is known after it ends even though no nimctl
process waited.

A pid alone does not identify a process: pids are reused. Each record keeps the process start
time (``/proc/<pid>/stat`` field 22) and the boot id; a process is ours only when all match, and a
pid that now belongs to someone else is never signalled. Stopping sends SIGTERM to the process
group, SIGKILL after a grace period, and waits until no member is left.

Records never hold secret values: env vars whose names look secret (and ``api_key``) are masked
in the stored spec, which is compared for adoption through a salted digest instead.
Linux (``/proc``) is the supported platform.

``provider`` assembles ``LocalProvider`` from ``endpoints`` and ``jobs``, both on ``processes``
(start, stop, liveness) on ``registry`` (the directory above); ``proc`` reads ``/proc``,
``specs`` checks specs and masks their secrets, ``network`` finds ports and probes health. This
file stays a docstring: import the module you need (``nimctl.providers.local.provider``).
"""
