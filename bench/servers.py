"""Server processes for the HTTP benchmarks: ours (run.py, as production starts it) and the
references (bench/refs.py), all with 2 uvicorn workers, uvloop + httptools, no access log."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from app.core.config import PROJECT_ROOT
from tests.live_server import free_port

WORKERS = 2
STARTUP_TIMEOUT_S = 90.0
UVICORN_FLAGS = (
    f"--workers={WORKERS}",
    "--loop=uvloop",
    "--http=httptools",
    "--no-access-log",
    "--log-level=warning",
    "--timeout-worker-healthcheck=60",  # as run.py: a loaded machine imports slowly
)


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path

    def worker_pids(self) -> list[int]:
        """uvicorn's workers are spawned children of the supervisor (not its resource
        tracker)."""
        parent = psutil.Process(self.process.pid)
        return [
            child.pid
            for child in parent.children()
            if "resource_tracker" not in " ".join(child.cmdline())
        ]

    def rss_mb(self) -> list[float]:
        return [psutil.Process(pid).memory_info().rss / 2**20 for pid in self.worker_pids()]

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) its workers have used so far. Per request
        it moves far less with the machine's load than req/s does."""
        times = [psutil.Process(pid).cpu_times() for pid in self.worker_pids()]
        return sum(t.user + t.system for t in times)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _start(
    name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int, ready: str
) -> Server:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(PROJECT_ROOT),
            env={**os.environ, **env},
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited early:\n{log_path.read_text()}")
            try:
                await client.get(ready)
                if await _workers_settled(server):
                    return server
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    await server.stop()
    raise RuntimeError(f"{name} did not start:\n{log_path.read_text()}")


async def _workers_settled(server: Server) -> bool:
    """Both workers up and the same two a moment later (none replaced meanwhile)."""
    first = server.worker_pids()
    if len(first) < WORKERS:
        return False
    await asyncio.sleep(2.0)
    return server.worker_pids() == first


def app_env(database_url: str, workdir: Path, **settings: str) -> dict[str, str]:
    """Production-like settings for our server: ENV=dev only so no outside provider is
    required; rate limits off (the bench is one user hammering one endpoint)."""
    return {
        "ENV": "dev",
        "DATABASE_URL": database_url,
        "MAIL_DIR": str(workdir / "mail"),
        "MEDIA_DIR": str(workdir / "media"),
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "ACCESS_TOKEN_EXPIRE_MINUTES": "600",
        "WEB_CONCURRENCY": str(WORKERS),
        **settings,
    }


async def start_ours(env: dict[str, str], workdir: Path, name: str = "ours") -> Server:
    port = free_port()
    argv = [sys.executable, str(PROJECT_ROOT / "run.py"), "--skip-migrations"]
    return await _start(
        name, argv, {**env, "HOST": "127.0.0.1", "PORT": str(port)}, workdir, port, "/health"
    )


async def start_reference(
    name: str, factory: str, workdir: Path, env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host=127.0.0.1",
        f"--port={port}",
        *UVICORN_FLAGS,
    ]
    return await _start(name, argv, env or {}, workdir, port, "/")
