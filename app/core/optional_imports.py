"""Import a library without an optional extra it tries at import time (issue 14, memory).

Some libraries try an import when they are imported and work without it. PyJWT loads
cryptography (~8 MB per process) to offer RSA, EC and EdDSA keys; our tokens are HMAC only.
redis-py loads OpenTelemetry's metrics SDK (~2 MB with psutil) to annotate a provider it uses
only if the application turns redis metrics on, which we never do. Inside `without(...)` such an
import fails as if the extra were not installed (a None entry in sys.modules, Python's
documented way to block an import), so the library takes its own fallback; when the block
ends the extra imports normally for whoever needs it (authlib's RS256 checks of Google's
id tokens, logfire's metrics).

Only names not imported yet are hidden: a process that already loaded the extra has paid for
it, and the library then gets it as usual. Use it around module-level imports (start-up, one
thread): while the block is open, no other thread of the process can import the hidden names.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

# The part that costs (its Rust bindings and everything built on them): the bare package is
# ~0.2 MB, and redis-py imports it only to see whether it is installed.
CRYPTOGRAPHY = "cryptography.hazmat"
# The SDK as a whole: redis-py asks for opentelemetry.sdk.metrics; the API (opentelemetry)
# stays importable, FastAPI uses it.
OPENTELEMETRY_SDK = "opentelemetry.sdk"


@contextmanager
def without(*names: str) -> Iterator[None]:
    """Run the block's imports as if the packages `names` were not installed."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
