"""A Redis server of the suite's own: `redis-server` from PATH on a free loopback port, in a
temporary directory, nothing persisted, killed at the end of the run. Tests never talk to a
Redis they did not start (a developer's or another run's data on 6379 is never flushed).

Without `redis-server` on PATH the tests that need it skip, saying so; set
HAIRTRYON_REQUIRE_REDIS=1 (as .ci/run does) to make that an error instead.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.live_server import free_port

STARTUP_TIMEOUT_S = 15.0
MISSING = (
    "redis-server is not on PATH: the Redis tests start their own server from it "
    "(install the OS package, e.g. `apt-get install -y redis-server`)"
)


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flush(self) -> None:
        """Empty every database of this server (ours alone), so a test starts from nothing."""
        with redis.Redis(host="127.0.0.1", port=self.port) as client:
            client.flushall()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _die_with_parent() -> None:
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("HAIRTRYON_REQUIRE_REDIS") == "1":
            pytest.fail(f"{MISSING}; HAIRTRYON_REQUIRE_REDIS=1 forbids skipping", pytrace=False)
        pytest.skip(MISSING)
    return binary


def start_redis_server(workdir: Path) -> RedisServer:
    binary = redis_server_binary()
    last_error = ""
    # free_port() can lose a race with another process taking the port: try a few.
    for _ in range(3):
        port = free_port()
        log_path = workdir / f"redis-{port}.log"
        process = subprocess.Popen(
            [
                binary,
                *("--port", str(port)),
                *("--bind", "127.0.0.1"),
                *("--dir", str(workdir)),
                *("--save", ""),
                *("--appendonly", "no"),
                *("--daemonize", "no"),
                *("--logfile", str(log_path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            # If the test run itself is killed, its Redis goes with it rather than lingering.
            preexec_fn=_die_with_parent,
        )
        server = RedisServer(process, port, log_path)
        if _wait_until_ready(server):
            return server
        server.stop()
        last_error = server.log() if log_path.exists() else "(no log)"
    raise RuntimeError(f"redis-server did not start:\n{last_error}")


def _wait_until_ready(server: RedisServer) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=1) as client:
                if client.ping():
                    return True
        except redis.RedisError:
            pass
        time.sleep(0.05)
    return False
