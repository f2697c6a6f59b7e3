"""Password hashing promises: AUTH-11 (argon2id at OWASP's minimum), AUTH-12 (hashing stays off
the event loop) and the timing half of AUTH-04 (no account costs the same as a wrong password)."""

from __future__ import annotations

import asyncio
import re
import threading

import argon2
import pytest

from app.auth.passwords import (
    HASHING_QUEUE,
    OWASP_MIN_MEMORY_COST_KIB,
    OWASP_MIN_TIME_COST,
    PasswordHasher,
)
from tests.loop_probe import LoopProbe

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


def _probe_argon2(monkeypatch: pytest.MonkeyPatch, patience: float = 30.0) -> LoopProbe:
    probe = LoopProbe(monkeypatch, asyncio.get_running_loop(), patience)
    probe.wrap(argon2.PasswordHasher, "hash")
    probe.wrap(argon2.PasswordHasher, "verify")
    return probe


async def test_the_loop_probe_sees_hashing_run_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control for AUTH-12: the same probe fails when argon2 runs inline on the event loop."""
    probe = _probe_argon2(monkeypatch, patience=0.5)
    raw = argon2.PasswordHasher(memory_cost=OWASP_MIN_MEMORY_COST_KIB, time_cost=2, parallelism=1)

    raw.hash(PASSWORD)  # deliberately blocking: the bug AUTH-12 guards against

    assert probe.served() == [False]


async def test_auth12_hashing_runs_off_the_loop_one_at_a_time(
    hasher: PasswordHasher, stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hash and verify runs in a worker thread while the loop keeps serving, and the
    process-wide queue runs only one at a time (the others wait in it)."""
    probe = _probe_argon2(monkeypatch)
    peak_waiting = 0

    async def watch_the_queue() -> None:
        nonlocal peak_waiting
        while True:
            peak_waiting = max(peak_waiting, HASHING_QUEUE.waiting)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch_the_queue())
    try:
        # A mix of signups, logins and unknown-email logins arriving together.
        await asyncio.gather(
            *(hasher.hash(PASSWORD) for _ in range(2)),
            *(hasher.verify(stored, "wrong password") for _ in range(2)),
            *(hasher.verify(None, "wrong password") for _ in range(2)),
        )
    finally:
        watcher.cancel()

    assert len(probe.served()) >= 6
    assert all(probe.served()), probe.served()
    assert probe.peak_concurrency == 1
    assert peak_waiting >= 1


async def test_queued_hashes_run_back_to_back_in_arrival_order_without_the_loop(
    hasher: PasswordHasher, stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next queued hash starts as soon as the previous one ends, in the hashing thread: it
    does not wait for a turn of the event loop (a busy loop made each hand-over cost two
    turns). Proven by holding the loop until the third verify has started."""
    original = argon2.PasswordHasher.verify
    started: list[str] = []
    third = threading.Event()

    def recording(self: argon2.PasswordHasher, hashed: str, password: bytes) -> bool:
        started.append(password.decode())
        if len(started) == 3:
            third.set()
        return original(self, hashed, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", recording)
    verifies = [asyncio.create_task(hasher.verify(stored, f"wrong {i}")) for i in range(3)]
    await asyncio.sleep(0)  # each task queues its verify
    ran_while_the_loop_was_held = third.wait(timeout=60)  # blocks the loop on purpose
    assert await asyncio.gather(*verifies) == [False, False, False]

    assert ran_while_the_loop_was_held
    assert started == ["wrong 0", "wrong 1", "wrong 2"]


async def test_auth04_verify_without_hash_does_a_real_verify(
    hasher: PasswordHasher, stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown account costs what a wrong password costs because it does the same work: one
    argon2id verify against a hash with our parameters (the timings are in bench/)."""
    await hasher.warm_up()
    probe = _probe_argon2(monkeypatch)

    assert await hasher.verify(None, "wrong password") is False
    assert await hasher.verify(stored, "wrong password") is False

    assert probe.args("hash") == []  # the dummy was built once, up front
    (_, dummy_hash, _), (_, real_hash, _) = probe.args("verify")
    assert real_hash == stored
    assert dummy_hash != stored
    assert argon2.extract_parameters(dummy_hash) == argon2.extract_parameters(stored)
