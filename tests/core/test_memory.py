"""Large buffers are given back when freed (app/core/memory.py): password hashes in several
worker threads do not each leave 19 MiB resident. Measured in fresh interpreters, so the test
run's own heap does not blur the figure; the sizes, not any timing, are asserted."""

from __future__ import annotations

import subprocess
import sys

from app.core.config import PROJECT_ROOT

# Three argon2id hashes at our parameters (19 MiB each), in three threads.
_HASH_IN_THREADS = """
import sys, threading
from app.core.memory import return_large_allocations_to_os
from app.auth.passwords import PasswordHasher
if sys.argv[1] == "fixed":
    assert return_large_allocations_to_os()
hasher = PasswordHasher()._hasher
def rss_kib():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
hasher.hash("warm up the library in the main thread")
before = rss_kib()
# One hash at a time (as HASHING_QUEUE runs them), each in its own live thread: glibc then
# gives each thread its own arena (a thread that had exited could hand its arena on).
turn = threading.Lock()
done = threading.Barrier(4)
def hash_once():
    with turn:
        hasher.hash("correct horse")
    done.wait()
threads = [threading.Thread(target=hash_once) for _ in range(3)]
for thread in threads:
    thread.start()
done.wait()
print(rss_kib() - before)
for thread in threads:
    thread.join()
"""
MIB = 1024


def _growth_kib(mode: str) -> int:
    output = subprocess.run(
        [sys.executable, "-c", _HASH_IN_THREADS, mode],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return int(output.split()[-1])


def test_hashes_in_several_threads_leave_no_19_mib_each_behind() -> None:
    assert _growth_kib("fixed") < 10 * MIB


def test_without_the_fixed_threshold_each_hashing_thread_keeps_its_buffer() -> None:
    """Control: glibc's default behaviour, the growth the fix removes, is what the test sees."""
    assert _growth_kib("default") > 30 * MIB
