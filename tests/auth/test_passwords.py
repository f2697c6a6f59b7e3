"""Password hashing promises: AUTH-11 (argon2id at OWASP's minimum), AUTH-12 (hashing stays off
the event loop) and the timing half of AUTH-04 (no account costs the same as a wrong password)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import argon2
import pytest

from app.auth.passwords import (
    HASHING_LIMITER,
    OWASP_MIN_MEMORY_COST_KIB,
    OWASP_MIN_TIME_COST,
    PasswordHasher,
)

PASSWORD = "correct horse battery staple"
_PHC_PREFIX = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


@pytest.fixture(scope="module")
async def stored(hasher: PasswordHasher) -> str:
    return await hasher.hash(PASSWORD)


async def test_auth11_hashes_are_argon2id_at_owasp_minimum(stored: str) -> None:
    match = _PHC_PREFIX.match(stored)
    assert match is not None, stored
    memory_kib, time_cost, parallelism = (int(group) for group in match.groups())
    assert memory_kib >= OWASP_MIN_MEMORY_COST_KIB == 19_456
    assert time_cost >= OWASP_MIN_TIME_COST == 2
    assert parallelism >= 1


def test_parameters_below_the_minimum_must_be_asked_for() -> None:
    with pytest.raises(ValueError, match="OWASP"):
        PasswordHasher(memory_cost=8_192)
    with pytest.raises(ValueError, match="OWASP"):
        PasswordHasher(time_cost=1)
    PasswordHasher(memory_cost=8_192, time_cost=1, allow_below_minimum=True)


async def test_each_hash_is_salted(hasher: PasswordHasher, stored: str) -> None:
    assert await hasher.hash(PASSWORD) != stored


async def test_verify_accepts_the_right_password(hasher: PasswordHasher, stored: str) -> None:
    assert await hasher.verify(stored, PASSWORD) is True


@pytest.mark.parametrize("attempt", ["wrong password", "", PASSWORD.upper(), PASSWORD + " "])
async def test_verify_refuses_other_passwords(
    hasher: PasswordHasher, stored: str, attempt: str
) -> None:
    assert await hasher.verify(stored, attempt) is False


async def test_verify_without_a_hash_is_false(hasher: PasswordHasher) -> None:
    assert await hasher.verify(None, PASSWORD) is False
    assert await hasher.verify(None, "") is False


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!$!!!",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
        "$2b$12$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeyHW",
        "é$argon2id$",
        "\x00",
    ],
    ids=["empty", "text", "bad-base64", "truncated", "bcrypt", "non-ascii", "nul"],
)
async def test_unreadable_hashes_verify_false_not_raise(
    hasher: PasswordHasher, garbage: str
) -> None:
    assert await hasher.verify(garbage, PASSWORD) is False
    # Never raises; its answer does not matter, as such a hash can never have verified.
    assert hasher.needs_rehash(garbage) in {True, False}


async def test_lone_surrogate_password_round_trips(hasher: PasswordHasher) -> None:
    # JSON may decode "\ud800" into a str that strict UTF-8 cannot encode.
    odd = "pass\ud800word"
    hashed = await hasher.hash(odd)
    assert await hasher.verify(hashed, odd) is True
    assert await hasher.verify(hashed, "pass\ud801word") is False


async def test_needs_rehash_only_for_other_parameters(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.needs_rehash(stored) is False
    weak = PasswordHasher(memory_cost=8_192, time_cost=1, allow_below_minimum=True)
    old = await weak.hash(PASSWORD)
    assert hasher.needs_rehash(old) is True
    # An old hash still verifies (its parameters are read from it), so it can be upgraded.
    assert await hasher.verify(old, PASSWORD) is True


async def _max_tick_gap(until: float, period: float = 0.01) -> float:
    """Longest interval between consecutive wake-ups of a ticker that sleeps `period`."""
    gaps: list[float] = []
    last = time.perf_counter()
    while last < until:
        await anyio.sleep(period)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    return max(gaps)


async def _run_with_ticker(
    duration: float, load: Callable[[float], Coroutine[Any, Any, None]]
) -> float:
    until = time.perf_counter() + duration
    result: list[float] = []

    async def tick() -> None:
        result.append(await _max_tick_gap(until))

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        for _ in range(4):
            tg.start_soon(load, until)
    return result[0]


async def test_the_gap_probe_sees_a_loop_blocked_by_inline_hashing() -> None:
    """Control for AUTH-12: the same probe catches argon2 run on the loop itself."""
    raw = argon2.PasswordHasher(memory_cost=OWASP_MIN_MEMORY_COST_KIB, time_cost=2, parallelism=1)

    async def hash_inline(until: float) -> None:
        await anyio.sleep(0.05)
        started = time.perf_counter()
        while time.perf_counter() - started < 0.15:
            raw.hash(PASSWORD)  # deliberately blocking: the bug AUTH-12 guards against

    max_gap = await _run_with_ticker(0.4, hash_inline)
    assert max_gap > 0.1


async def test_auth12_hashing_does_not_block_the_event_loop(
    hasher: PasswordHasher, stored: str
) -> None:
    operations = 0
    peak_borrowed = 0
    peak_waiting = 0

    async def client(until: float) -> None:
        nonlocal operations, peak_borrowed, peak_waiting
        while time.perf_counter() < until:
            # Alternate like a mix of signups and logins.
            if operations % 2:
                await hasher.hash(PASSWORD)
            else:
                await hasher.verify(stored, "wrong password")
            operations += 1
            stats = HASHING_LIMITER.statistics()
            peak_borrowed = max(peak_borrowed, stats.borrowed_tokens)
            peak_waiting = max(peak_waiting, stats.tasks_waiting)

    max_gap = await _run_with_ticker(1.5, client)
    print(f"\nAUTH-12: max tick gap {max_gap * 1000:.1f} ms over {operations} hash/verify ops")
    assert max_gap < 0.1
    assert operations > 4
    # One hash at a time per process, and the others really did queue for it.
    assert HASHING_LIMITER.total_tokens == 1
    assert peak_borrowed <= 1
    assert peak_waiting >= 1


async def test_auth04_verify_without_hash_costs_a_real_verify(
    hasher: PasswordHasher, stored: str
) -> None:
    await hasher.warm_up()

    async def timed(hashed: str | None) -> float:
        started = time.perf_counter()
        assert await hasher.verify(hashed, "wrong password") is False
        return time.perf_counter() - started

    dummy: list[float] = []
    real: list[float] = []
    for _ in range(15):  # interleaved, so drifts in machine load hit both sides alike
        dummy.append(await timed(None))
        real.append(await timed(stored))
    ratio = statistics.median(dummy) / statistics.median(real)
    print(
        f"\nAUTH-04: median verify dummy {statistics.median(dummy) * 1000:.1f} ms, "
        f"real {statistics.median(real) * 1000:.1f} ms, ratio {ratio:.2f}"
    )
    assert 0.5 <= ratio <= 2.0
