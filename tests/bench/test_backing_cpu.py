"""The bench's CPU meter for PostgreSQL and Redis counts a service as its process tree: a
backend that exits during a round must still be counted, or a pool that reconnects would look
cheaper than one that does not."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from bench.backing_cpu import postmaster, tree_cpu_s
from bench.seed import asyncpg_dsn

# A child that spends about 0.3 s of CPU, then (when told to) waits to be stopped.
_BURN = "import sys, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_a_tree_keeps_the_time_of_a_child_that_exited_and_was_reaped() -> None:
    me = psutil.Process()
    before = tree_cpu_s(me)
    subprocess.run([sys.executable, "-c", _BURN], check=True)  # waits: the child is reaped
    own = me.cpu_times()
    assert tree_cpu_s(me) - before >= 0.25
    assert own.children_user + own.children_system >= 0.25  # counted as a reaped child's


def test_a_tree_counts_a_live_child() -> None:
    me = psutil.Process()
    script = "import sys\nsys.stdin.readline()\n" + _BURN + "print('done', flush=True)\n"
    child = subprocess.Popen(
        [sys.executable, "-c", script + "time.sleep(60)\n"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdin is not None
        assert child.stdout is not None
        before = tree_cpu_s(me)
        child.stdin.write(b"go\n")
        child.stdin.flush()
        assert child.stdout.readline() == b"done\n"  # burnt, still alive
        assert tree_cpu_s(me) - before >= 0.2
    finally:
        child.kill()
        child.wait()


@pytest.mark.pg_only
async def test_the_postmaster_of_a_local_server_is_found(database_url: str) -> None:
    """Found from the backend of a short connection, read before that backend exits (read
    after the close, the lookup lost the race in most runs and the figure went missing)."""
    found = await postmaster(asyncpg_dsn(database_url))

    assert found is not None
    assert found.name().startswith("postgres")
    parent = found.parent()
    assert parent is None or not parent.name().startswith("postgres")  # the root of the tree
    assert any(child.name().startswith("postgres") for child in found.children())
