"""RSS per API worker of a real `run.py` (issue 14, memory: target <= 120 MB per worker).

Starts `run.py --workers N` on a fresh SQLite file (or --database-url), waits until every
worker answers, sends a few requests of each kind a worker serves at once (health, styles,
status of a missing image, a failed login, the OpenAPI document), then reads VmRSS of every
worker process from /proc. Prints one line per worker and the median, and `--json` prints the
figures as one JSON object for a harness to collect.

    .venv/bin/python -m bench.memory_rss [--workers 2] [--requests 20] [--source DIR] [--json]

`--source` runs another checkout's run.py (with this interpreter) for a before/after figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from app.core.config import PROJECT_ROOT
from tests.live_server import free_port

FRONTEND = "http://localhost:5173"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _workers(parent: int) -> list[int]:
    """uvicorn's worker processes: the parent's children, minus multiprocessing's tracker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _settled_rss(pids: list[int]) -> list[float]:
    """RSS once it stops moving (a worker that was still starting up reads low)."""
    last = [_rss_mb(pid) for pid in pids]
    for _ in range(30):
        time.sleep(1)
        now = [_rss_mb(pid) for pid in pids]
        if all(abs(a - b) < 0.5 for a, b in zip(now, last, strict=True)):
            return now
        last = now
    return last


def _traffic(base_url: str, requests: int) -> None:
    with httpx.Client(base_url=base_url, headers={"Origin": FRONTEND}, timeout=60) as client:
        for _ in range(requests):
            client.get("/health")
            client.get("/api/v1/image/styles")
            client.get("/api/v1/image/status/1")
            client.post(
                "/api/v1/auth/login", json={"email": "nobody@example.org", "password": "wrong"}
            )
            client.get("/openapi.json")


def measure(source: Path, workers: int, requests: int, database_url: str | None) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="hairtryon-rss-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url or f"sqlite:///{Path(tmp) / 'rss.db'}",
            "MAIL_DIR": str(Path(tmp) / "mail"),
            "MEDIA_DIR": str(Path(tmp) / "media"),
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "run.py", "--workers", str(workers), "--port", str(port)],
            cwd=source,
            env=env,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while len(_workers(server.pid)) < workers or not _up(base_url):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start")
                time.sleep(0.5)
            # Connections are spread over the workers by the kernel: enough requests reach each.
            _traffic(base_url, requests)
            return _settled_rss(_workers(server.pid))
        finally:
            server.terminate()
            server.wait(timeout=60)


def _up(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--source", type=Path, default=PROJECT_ROOT)
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rss = measure(args.source, args.workers, args.requests, args.database_url)
    if args.json:
        print(
            json.dumps({"memory": {"rss_mb_per_worker": rss, "median_mb": statistics.median(rss)}})
        )
        return
    for index, value in enumerate(rss):
        print(f"worker {index}: {value:.1f} MB")
    print(f"median RSS per worker: {statistics.median(rss):.1f} MB (target <= 120 MB)")


if __name__ == "__main__":
    main()
