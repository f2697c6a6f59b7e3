"""CPU the services behind our server spend on its requests: PostgreSQL and Redis.

`Server.cpu_s` counts our workers only. An accept also costs the database a transaction (three
INSERTs, an UPDATE, a commit and its WAL) and Redis the job's XADD, all on the same two cores;
a poll costs the database one indexed read. These figures say how much of the machine one
request takes before any line of ours runs, which bounds what any implementation of the
endpoint could reach on this machine.

A service is counted as its process tree: the process's own time, what its reaped children
left in its `children_*` times (a PostgreSQL backend that exits mid-round is still counted),
and each live child's time. Both servers are local to the bench (loopback), so their pids can
be read; a database elsewhere gives no figure rather than a wrong one. The whole server is
counted (its WAL writer and checkpointer are part of a commit's cost), so anything else using
it during a round (a test suite on the same cluster) would be counted too: run the bench alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
import psutil


def tree_cpu_s(root: psutil.Process) -> float:
    """User + system seconds of `root`, its reaped children and its live children."""
    try:
        own = root.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        children = root.children()
    except psutil.Error:
        return 0.0
    for child in children:
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue  # exited between the listing and the read: its time is in the parent's
        total += times.user + times.system
    return total


@dataclass(frozen=True)
class BackingServices:
    """The bench's PostgreSQL server (its postmaster) and Redis server, when local."""

    postgres: psutil.Process | None
    redis: psutil.Process | None

    def cpu_s(self) -> dict[str, float]:
        found = {"postgres": self.postgres, "redis": self.redis}
        return {name: tree_cpu_s(process) for name, process in found.items() if process}


async def postmaster(dsn: str) -> psutil.Process | None:
    """The postmaster of the server at `dsn`: the parent of the backend serving this query
    (every backend is a direct child of it). None when that server runs on another host."""
    connection = await asyncpg.connect(dsn)
    try:
        backend = int(await connection.fetchval("SELECT pg_backend_pid()"))
        # Read while the connection is open: its backend exits once it closes.
        try:
            parent = psutil.Process(backend).parent()
        except psutil.Error:
            return None
    finally:
        await connection.close()
    if parent is None or not parent.name().startswith("postgres"):
        return None
    return parent


async def backing_services(dsn: str, redis_pid: int | None) -> BackingServices:
    redis: psutil.Process | None = None
    if redis_pid is not None:
        try:
            redis = psutil.Process(redis_pid)
        except psutil.Error:
            redis = None
    return BackingServices(postgres=await postmaster(dsn), redis=redis)
