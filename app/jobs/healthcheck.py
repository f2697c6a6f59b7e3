"""`python -m app.jobs.healthcheck`: the worker container's health check (it serves no HTTP).

Healthy when the container's main process is the job worker (`python -m app.jobs`) and the
job broker answers a ping; exit status 1 with the reason otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from app.core.config import get_settings

WORKER_MODULE = b"app.jobs"


def worker_is_main_process(proc: Path = Path("/proc/1/cmdline")) -> bool:
    try:
        arguments = proc.read_bytes().split(b"\0")
    except OSError:
        return False
    return WORKER_MODULE in arguments


def problems() -> list[str]:
    found: list[str] = []
    if not worker_is_main_process():
        found.append("the container's main process is not `python -m app.jobs`")
    url = get_settings().JOB_BROKER_URL
    if not url:
        found.append("JOB_BROKER_URL is not set")
        return found
    try:
        Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except RedisError as exc:
        found.append(f"the job broker does not answer: {type(exc).__name__}")
    return found


if __name__ == "__main__":
    found = problems()
    for problem in found:
        print(f"unhealthy: {problem}", file=sys.stderr)
    sys.exit(1 if found else 0)
