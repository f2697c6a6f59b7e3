"""`wrk` from loopback: one thread, N connections, a bounded duration; the Lua script rotates
over the given paths and prints the figures as one JSON line when done."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

_SCRIPT = """
local paths = {%(paths)s}
local method = "%(method)s"
local body = %(body)s
local counter = 0
request = function()
  counter = counter + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if %(idempotent)s then
    headers["Idempotency-Key"] = "wrk-" .. %(salt)s .. "-" .. counter
  end
  return wrk.format(method, paths[(counter %% #paths) + 1], headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d,'
    .. ' "status_errors": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    requests: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def ensure_wrk() -> str:
    """The Debian package; installed with apt when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def _write_script(script: str) -> Path:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        return Path(handle.name)


async def run_wrk(
    base_url: str,
    paths: list[str],
    *,
    connections: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: str | None = None,
    idempotency_keys: bool = False,
    salt: int = 0,
) -> WrkResult:
    script = _SCRIPT % {
        "paths": ", ".join(json.dumps(p) for p in paths),
        "method": method,
        "body": json.dumps(body) if body is not None else "nil",
        "idempotent": "true" if idempotency_keys else "false",
        "salt": salt,
    }
    script_path = await asyncio.to_thread(_write_script, script)
    argv = [
        ensure_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout=10s",
        "-s",
        str(script_path),
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(base_url)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await process.communicate()
    finally:
        await asyncio.to_thread(script_path.unlink, missing_ok=True)
    text = out.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures:\n{text}")
    data = json.loads(line.removeprefix("WRKJSON "))
    seconds = data["duration_us"] / 1e6
    return WrkResult(
        rps=round(data["requests"] / seconds, 1),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        max_ms=round(data["max_us"] / 1000, 2),
        errors=int(data["status_errors"] + data["socket_errors"]),
        requests=int(data["requests"]),
    )
