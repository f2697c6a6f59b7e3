"""Large buffers go back to the operating system when freed (glibc's malloc).

Why: glibc serves an allocation above its mmap threshold (128 KiB at start) with its own
mapping, unmapped on free. But after such a free it raises the threshold to that size, so the
next ones come from an arena, where freed memory stays resident. argon2id allocates 19 MiB per
password check, in whichever worker thread runs it; each thread has its own arena, so an API
process kept another 19 MiB for every thread that ever hashed (50 MB after three hashes, in a
measured worker). Fixing the threshold turns that adjustment off: buffers of 1 MiB and more
(argon2's, decoded images) are mapped and unmapped each time. The price is the page faults of
mapping them afresh (a few ms on a 20 ms hash); small allocations are untouched.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_ALLOCATION_BYTES = 1024 * 1024


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
