"""The Lepton provider: DGX Cloud Lepton driven through the real ``leptonai`` SDK (``api.v2``).

The SDK is a thin HTTP client: no retries, no rate-limit handling, no idempotency keys. This
package adds what a declarative tool needs on top of it:

* bounded retries with backoff (``nimctl.providers.retry``) on 429, 5xx, network errors;
* creates that are never repeated blindly: after an ambiguous failure (the request may have
  taken effect) the object is looked up first and adopted when it is the one we asked for;
* every SDK, ``requests`` and pydantic exception turned into a typed ``ProviderError`` that names
  the resource and says what to do next, with secret values scrubbed out;
* listing calls for refresh (one ``GET /deployments``, one paged job listing).

``provider`` assembles ``LeptonProvider`` from ``endpoints``, ``jobs``, ``logs`` and ``workspace``,
all on ``client`` (the SDK client, retries, errors); ``failures`` classifies SDK exceptions,
``translate`` converts between specs and SDK models, ``patch`` computes in-place updates.

``leptonai`` is imported inside the functions that need it (about 0.5 s), never at import time:
``nimctl --help``, ``validate`` and ``plan --no-refresh`` must not pay for it. This file stays a
docstring: import the module you need (``nimctl.providers.lepton.provider``).
"""
