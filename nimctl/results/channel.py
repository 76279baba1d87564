"""The log channel's format: how a Lepton job's small result files come back to nimctl.

A Lepton job's files live in its container (or on storage nimctl cannot read: leptonai 0.47 has
no storage API); its log is the one thing still readable after the pod is gone and the job is
archived. So every job nimctl runs on Lepton ends by printing its small result files
(``results.yml``, ``eval_factory_metrics.json``) between markers, on success and on failure,
and nimctl reads them back with the log API.

Gives the shell side (``EMIT_FUNCTIONS``, POSIX sh, needs only ``wc``, ``base64``, ``cut`` and
optionally ``sha256sum``) and the reading side (``nimctl.results.recover.decode``). The lines::

    nimctl-results/1 <run> begin results.yml bytes=812 sha256=<hex>
    nimctl-results/1 <run> data results.yml 0 <base64, at most 76 characters>
    nimctl-results/1 <run> end results.yml
    nimctl-results/1 <run> skipped big.json bytes=9000000          (over MAX_FILE_BYTES)
    nimctl-results/1 <run> done status=0 timed_out=0

``<run>`` (epoch seconds and pid) tells apart the attempts of a job the platform restarted; the
last complete attempt counts. Data lines are numbered, so the order the log API returns them in
(lines of one nanosecond may come in any order) does not matter. A file counts only when its
size and digest match.
"""

from __future__ import annotations

MARKER = "nimctl-results/1"
MAX_FILE_BYTES = 1024 * 1024  # larger files stay on storage; only their size is reported

# Defines nimctl_emit_results STATUS: prints the files named below from "$out" (the job's output
# directory), then the done line (timed_out=1 when "$out/nimctl_timed_out" exists).
EMIT_FUNCTIONS = f"""\
nimctl_emit() {{
  f="$out/$1"
  [ -f "$f" ] || return 0
  size=$(wc -c < "$f" | tr -d ' ')
  if [ "$size" -gt {MAX_FILE_BYTES} ]; then echo "{MARKER} $run skipped $1 bytes=$size"; return 0; fi
  sum=$(sha256sum "$f" 2>/dev/null | cut -d ' ' -f 1) || sum=
  echo "{MARKER} $run begin $1 bytes=$size sha256=${{sum:--}}"
  base64 "$f" | {{ i=0; while IFS= read -r chunk; do echo "{MARKER} $run data $1 $i $chunk"; i=$((i+1)); done; }}
  echo "{MARKER} $run end $1"
}}
nimctl_emit_results() {{
  run="$(date +%s)-$$"
  for name in results.yml eval_factory_metrics.json; do nimctl_emit "$name"; done
  timed_out=0
  if [ -f "$out/nimctl_timed_out" ]; then timed_out=1; fi
  echo "{MARKER} $run done status=$1 timed_out=$timed_out"
}}
"""

# This module stays import-free: the job specs (built by `nimctl validate`) embed EMIT_FUNCTIONS.
