"""Large buffers go back to the operating system when freed (glibc's malloc).

Why: glibc serves an allocation above its mmap threshold (128 KiB at start) with its own
mapping, unmapped on free. But after such a free it raises the threshold to that size, so the
next ones come from an arena, where freed memory stays resident. argon2id allocates 19 MiB per
password check, in whichever worker thread runs it; each thread has its own arena, so an API
process kept another 19 MiB for every thread that ever hashed (50 MB after three hashes, in a
measured worker). Fixing the threshold turns that adjustment off: buffers of 1 MiB and more
(argon2's, decoded images) are mapped and unmapped each time. The price is the page faults of
mapping them afresh; small allocations are untouched.

That price was measured (fresh interpreters, one thread, an idle 2-core machine): 11.4 ms of
system CPU on a password check of 33 ms (4865 page faults: the 19 MiB mapped and zeroed 4 KiB
at a time), and 33-42 ms of system CPU on a 12 MP upload's decode and re-encode of 125-139 ms
(12 700 faults). glibc's `glibc.malloc.hugetlb=1` tunable asks for transparent huge pages on
its mappings (`madvise(MADV_HUGEPAGE)`, honoured where the kernel's THP mode is `madvise` or
`always`), the buffers still unmapped on free: 266-777 faults, a check 23-24 ms (2.4-3.2 ms of
it system), an upload's intake 91-96 ms (6-9 ms). Its price: the heap's growth is madvised too,
so a worker's RSS after start-up went from 109.5-112.1 to 113.5-114.6 MiB
(`python -m bench.import_rss --no-hook`). glibc reads tunables only when a process starts, so
the entry points (run.py, `python -m app.jobs`) re-execute themselves once with it
(`restart_with_huge_page_malloc`): same PID, same command line; a server started another way
(`uvicorn --factory app.asgi:app_factory`) runs without it unless GLIBC_TUNABLES says so. An
operator who names `glibc.malloc.hugetlb` in GLIBC_TUNABLES (`=0` turns it off) is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_ALLOCATION_BYTES = 1024 * 1024
HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb"
THP_MODE_FILE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
THP_MODES_IN_USE = ("madvise", "always")  # "never": the kernel ignores MADV_HUGEPAGE


def return_large_allocations_to_os(threshold: int = LARGE_ALLOCATION_BYTES) -> bool:
    """Fix glibc's mmap threshold at `threshold`; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))


def _libc() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"; musl has no such name
    except (ValueError, OSError):
        return ""


def transparent_huge_page_mode() -> str:
    """The kernel's transparent huge page mode, the bracketed word ("[madvise]") of its file."""
    try:
        text = THP_MODE_FILE.read_text()
    except OSError:
        return "never"
    return text.split("[", 1)[-1].split("]", 1)[0] if "[" in text else "never"


def huge_pages_available() -> bool:
    return transparent_huge_page_mode() in THP_MODES_IN_USE


def environment_with_huge_page_malloc(
    environ: Mapping[str, str], *, libc: str, thp_mode: str
) -> dict[str, str] | None:
    """`environ` with glibc's huge page tunable added, or None when a restart would change
    nothing: not glibc, no transparent huge pages, or GLIBC_TUNABLES already names it."""
    if not libc.startswith("glibc") or thp_mode not in THP_MODES_IN_USE:
        return None
    current = environ.get("GLIBC_TUNABLES", "")
    names = {item.split("=", 1)[0] for item in current.split(":") if item}
    if HUGE_PAGE_TUNABLE in names:
        return None
    tunable = f"{HUGE_PAGE_TUNABLE}=1"
    return {**environ, "GLIBC_TUNABLES": f"{current}:{tunable}" if current else tunable}


def restart_with_huge_page_malloc() -> None:
    """Re-execute this interpreter with the tunable (see the module's docstring), or return.

    Called first thing by an entry point's `__main__`, before any thread or socket exists:
    `execve` keeps the PID (a container's PID 1 stays the server) and the command line."""
    environ = environment_with_huge_page_malloc(
        os.environ, libc=_libc(), thp_mode=transparent_huge_page_mode()
    )
    if environ is not None:
        os.execve(sys.executable, sys.orig_argv, environ)
