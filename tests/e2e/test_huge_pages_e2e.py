"""run.py re-executes itself with glibc's huge page tunable before serving, so its workers
inherit it (app/core/memory.py): read from /proc, the environment each process runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.memory import HUGE_PAGE_TUNABLE, huge_pages_available
from tests.live_server import environment_variable_of, server_env, start_live_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not huge_pages_available(), reason="no transparent huge pages to ask for"),
]


def _tunables(pid: int) -> str | None:
    return environment_variable_of(pid, "GLIBC_TUNABLES")


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


async def test_run_py_and_its_workers_run_with_the_huge_page_tunable(
    database_url: str, tmp_path: Path
) -> None:
    server = await start_live_server(
        server_env(database_url, tmp_path), tmp_path, extra_args=("--workers", "2")
    )
    try:
        supervisor = server.process.pid  # execve kept the PID the test started
        workers = _children(supervisor)

        assert _tunables(supervisor) == f"{HUGE_PAGE_TUNABLE}=1"
        assert len(workers) >= 2
        assert {_tunables(pid) for pid in workers} == {f"{HUGE_PAGE_TUNABLE}=1"}
    finally:
        await server.stop()
