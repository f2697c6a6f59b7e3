"""HairTryOn backend."""

import os

# logfire registers a pydantic plugin (an entry point), and pydantic loads every registered plugin
# when it builds its first model: that imported logfire and OpenTelemetry (~15 MB, ~0.2 s) into
# every process, token or not. We never use logfire's pydantic instrumentation (traces are set up
# in app/core/telemetry.py, only with LOGFIRE_TOKEN), so the plugin is off unless the operator
# sets PYDANTIC_DISABLE_PLUGINS themselves. Here, because app/ is imported before any model.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "logfire-plugin")
