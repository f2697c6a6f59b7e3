"""Large buffers are mapped with transparent huge pages (app/core/memory.py): the entry points
re-execute themselves once with glibc's `glibc.malloc.hugetlb=1`, unless the operator chose.

Page faults are counted in fresh interpreters, not timed: a 19 MiB password-check buffer mapped
in 4 KiB pages takes ~4865 faults, in 2 MiB pages a few hundred."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.core.config import PROJECT_ROOT
from app.core.memory import (
    HUGE_PAGE_TUNABLE,
    environment_with_huge_page_malloc,
    huge_pages_available,
)

GLIBC = "glibc 2.36"


def test_the_tunable_is_added_to_an_environment_without_it() -> None:
    environ = environment_with_huge_page_malloc({"PATH": "/bin"}, libc=GLIBC, thp_mode="madvise")

    assert environ == {"PATH": "/bin", "GLIBC_TUNABLES": f"{HUGE_PAGE_TUNABLE}=1"}


def test_tunables_the_operator_set_are_kept_beside_it() -> None:
    environ = environment_with_huge_page_malloc(
        {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, libc=GLIBC, thp_mode="always"
    )

    assert environ is not None
    assert environ["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{HUGE_PAGE_TUNABLE}=1"


def test_an_operator_who_set_the_tunable_is_left_alone_and_nothing_restarts() -> None:
    turned_off = {"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{HUGE_PAGE_TUNABLE}=0"}

    assert environment_with_huge_page_malloc(turned_off, libc=GLIBC, thp_mode="madvise") is None


@pytest.mark.parametrize(("libc", "thp_mode"), [("", "madvise"), (GLIBC, "never")])
def test_nothing_restarts_without_glibc_or_without_transparent_huge_pages(
    libc: str, thp_mode: str
) -> None:
    assert environment_with_huge_page_malloc({}, libc=libc, thp_mode=thp_mode) is None


# A fresh interpreter that starts the way the entry points do, then counts the page faults of
# password checks at our parameters; it prints the tunables it ran with and the faults per check.
_CHECKS = """
import os, resource
from app.core.memory import restart_with_huge_page_malloc, return_large_allocations_to_os
restart_with_huge_page_malloc()
assert return_large_allocations_to_os()
from app.auth.passwords import PasswordHasher
hasher = PasswordHasher()._hasher
stored = hasher.hash("correct horse")
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    hasher.verify(stored, "correct horse")
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(os.environ.get("GLIBC_TUNABLES", "-"), faults // 5)
"""


def _faults_per_check(tunables: str | None) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables is not None:
        environ["GLIBC_TUNABLES"] = tunables
    output = subprocess.run(
        [sys.executable, "-c", _CHECKS],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    return output[-2], int(output[-1])


@pytest.mark.skipif(
    not huge_pages_available(), reason="the kernel offers no transparent huge pages"
)
def test_a_restarted_process_maps_a_password_checks_buffer_in_huge_pages() -> None:
    restarted_with, huge = _faults_per_check(None)
    # Control: the operator's opt-out, the 4 KiB pages the restart removes.
    kept, small = _faults_per_check(f"{HUGE_PAGE_TUNABLE}=0")

    assert restarted_with == f"{HUGE_PAGE_TUNABLE}=1"
    assert kept == f"{HUGE_PAGE_TUNABLE}=0"
    assert small > 4000  # 19 MiB in 4 KiB pages
    assert huge < small / 4
