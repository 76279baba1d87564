"""Markers for the values a spec template cannot know until apply: the endpoint's URL and the
invocation id. ``nimctl.stack.builder.render_job_spec`` replaces them structurally (whole values
/ whole path components), never by text search."""

from __future__ import annotations

PENDING_URL = "(known after apply)"
INVOCATION_MARKER = "(invocation id)"
