"""HairTryOn backend."""

import os
import sys

# logfire registers a pydantic plugin (an entry point), and pydantic loads every registered plugin
# when it builds its first model: that imported logfire and OpenTelemetry (~15 MB, ~0.2 s) into
# every process, token or not. We never use logfire's pydantic instrumentation (traces are set up
# in app/core/telemetry.py, only with LOGFIRE_TOKEN), so the plugin is off unless the operator
# sets PYDANTIC_DISABLE_PLUGINS themselves. Here, because app/ is imported before any model.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "logfire-plugin")

# httpx imports its command-line client (httpx._main) whenever rich, pygments and click are
# installed, and they are (logfire and uvicorn need them): ~100 modules and ~3 MB in every
# process. No process of ours runs that client. A None entry in sys.modules makes that one
# import fail (Python's documented import-blocking entry), and httpx then defines a `main` that
# says the client is unavailable. Only if httpx is not imported yet: a process that imported it
# first (the test run) has paid already and keeps its client.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
