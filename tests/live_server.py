"""Start and stop the real server process for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.core.config import PROJECT_ROOT

STARTUP_TIMEOUT_S = 60.0  # generous: a loaded 2-core machine imports slowly


def server_env(database_url: str, workdir: Path, **settings: str) -> dict[str, str]:
    """The settings every test server shares (its database, its own mail and media folders,
    no rate limits unless a test turns them on), plus `settings`."""
    return {
        "DATABASE_URL": database_url,
        "MAIL_DIR": str(workdir / "mail"),
        "MEDIA_DIR": str(workdir / "media"),
        "RATE_LIMIT_ENABLED": "false",
        **settings,
    }


def environment_variable_of(pid: int, name: str) -> str | None:
    """`name` in the environment process `pid` runs with (as it exec'd last), from /proc."""
    prefix = f"{name}=".encode()
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode()
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path
    env: dict[str, str]

    @property
    def mail_dir(self) -> Path:
        return Path(self.env["MAIL_DIR"])

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def start_live_server(
    env_overrides: dict[str, str],
    workdir: Path,
    *,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
) -> LiveServer:
    """`port` is passed as run.py's `--port` flag (PORT in the environment then names another,
    free port, so the test shows which one wins); by default PORT alone picks a free port."""
    flag_port = port
    port = free_port()
    if flag_port is not None:
        extra_args = ("--port", str(flag_port), *extra_args)
    env = {
        **os.environ,
        "ENV": "dev",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        **env_overrides,
    }
    argv = [sys.executable, str(PROJECT_ROOT / "run.py"), "--skip-migrations", *extra_args]
    listening = flag_port if flag_port is not None else port
    return await launch_server(argv, env, workdir, listening)


async def launch_server(
    argv: list[str],
    env: dict[str, str],
    workdir: Path,
    port: int,
    *,
    new_session: bool = False,
) -> LiveServer:
    """Run `argv` (a run.py command line) in `workdir` and wait until it answers /health on
    `port`. `new_session` puts it in a process group of its own, so a test can kill the whole
    tree (uvicorn's supervisor and its worker processes) if it does not stop."""
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(workdir),
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=new_session,
        )
    # The host the web app calls with the defaults (and the links the server makes point at).
    server = LiveServer(process, f"http://localhost:{port}", log_path, env)
    await _wait_until_healthy(server)
    return server


async def _wait_until_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with httpx.AsyncClient(base_url=server.base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.process.returncode is not None:
                raise RuntimeError(f"server exited early:\n{server.log()}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    await server.stop()
    raise RuntimeError(f"server did not become healthy:\n{server.log()}")
