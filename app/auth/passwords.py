"""Password hashing: argon2id at OWASP's minimum, off the event loop, a capped number at a time.

Why the shape (RELIABILITY "why these matter"): an argon2 hash is ~17-20 ms of pure CPU at these
parameters. Run inside `async def` it stalls every other request; run through a plain thread pool,
eight concurrent logins still starve the event loop on a 2-core machine. So every hash and verify
goes to a worker thread *and* through one process-wide queue with a single hashing thread:
logins queue behind each other while the loop keeps a core.

A process-wide cap alone still lets every API process hash at once: with two workers on two
cores, both cores hash and both event loops stall (status throughput fell to 0.48x with eight
login clients). So the worker thread also holds a machine-wide slot (`MachineSlots`, an `flock`
per slot; PASSWORD_HASH_CONCURRENCY slots, by default half the cores) while it hashes. The wait
for a slot happens in that thread, so the event loop never waits on it.

The cap is one hash at a time per process, fed first come, first served (`HASHING_QUEUE`), not a
limiter in front of a thread pool: with a limiter, the next queued hash could start only after
the event loop had taken back the previous result and woken the next waiter, two turns of a
loop that a status load keeps busy, while the hashing capacity sat idle (bench/README.md,
"Login interference"). The thread runs the queue back to back, and the machine-wide slot is
handed over in arrival order (`MachineSlots`' turnstile), so the other process's waiting hash
goes first.

A slot still lets hashing take a whole core of two while status polls saturate both, and two
clients looping on login then cost the polls a third of their rate. So a hash that starts with
no other waiting in its process (HASHING_BACKLOG = 1: at most one waiting, itself) runs at nice
+HASHING_NICE: it takes the CPU the loops leave idle (all of it on a quiet machine), and while
they are busy it gets about a quarter of a core they want (CFS weight 335 against 1024); such a
hash takes no slot, since it cannot starve the loops, and holding one while it crawls would
keep the other process's hash waiting. So with several API processes their lowered hashes may
run at once, on CPU the loops leave. A hash that starts with others waiting behind it runs at
the process's priority, in a slot, so a burst of logins is not served at the crawl. Measured with
`python -m bench login` (bench/README.md, "Logins that yield to the loops"): beside 2 looping
clients the polls kept 0.80-0.85x of their solo rate (0.64-0.66x at one priority), beside 8
0.60-0.70x (0.62-0.72x), the slowest login with 8 as before (0.9-1.1 s against 1.1-1.3 s),
and with 2 the logins took up to 0.53 s instead of 0.31 s.
"""

from __future__ import annotations

import contextlib
import secrets

from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type
from argon2.exceptions import VerificationError

from app.core.serial_thread import SerialThread
from app.core.slots import MachineSlots

# OWASP Password Storage Cheat Sheet, argon2id minimum: m=19 MiB, t=2, p=1.
OWASP_MIN_MEMORY_COST_KIB = 19_456
OWASP_MIN_TIME_COST = 2
OWASP_MIN_PARALLELISM = 1

# A hash that starts while at most this many wait in its process (itself included) runs a
# little below the event loops' priority and takes no machine-wide slot; one that starts with
# more waiting runs at the process's own priority, in a slot (app/core/serial_thread.py;
# the module docstring says why).
HASHING_NICE = 5
HASHING_BACKLOG = 1
# Shared by every PasswordHasher in the process: the point is to cap how many hashes compete
# with the event loop for the CPU, whichever service asked for them.
HASHING_QUEUE = SerialThread("password-hashing", nice=HASHING_NICE, escalate_beyond=HASHING_BACKLOG)


class PasswordHasher:
    """argon2id hashing whose async methods never run the hash on the event loop."""

    def __init__(
        self,
        *,
        memory_cost: int = OWASP_MIN_MEMORY_COST_KIB,
        time_cost: int = OWASP_MIN_TIME_COST,
        parallelism: int = OWASP_MIN_PARALLELISM,
        allow_below_minimum: bool = False,
        slots: MachineSlots | None = None,
        queue: SerialThread = HASHING_QUEUE,
    ) -> None:
        # Weaker parameters are only for tests that want speed, and must be asked for by name so
        # a typo in production settings cannot silently weaken every stored hash.
        below = (
            memory_cost < OWASP_MIN_MEMORY_COST_KIB
            or time_cost < OWASP_MIN_TIME_COST
            or parallelism < OWASP_MIN_PARALLELISM
        )
        if below and not allow_below_minimum:
            raise ValueError(
                "argon2id parameters below the OWASP minimum "
                f"(m={OWASP_MIN_MEMORY_COST_KIB}, t={OWASP_MIN_TIME_COST}, "
                f"p={OWASP_MIN_PARALLELISM}); pass allow_below_minimum=True in tests only"
            )
        self._hasher = _Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=Type.ID,
        )
        # Verified against when there is no stored hash, so "no such account" costs the same
        # time as "wrong password" (AUTH-04). Built lazily in the worker thread on first need,
        # so constructing a hasher never blocks the loop.
        self._dummy_hash: str | None = None
        # None: the process-wide limiter is the only cap (tests, the admin CLI).
        self._slots = slots
        # Tests hand a queue of their own to pin the priority a hash runs at.
        self._queue = queue

    async def warm_up(self) -> None:
        """Build the dummy hash now (e.g. in the lifespan), so the first unknown-email login
        does not pay for an extra hash."""
        await self._queue.run(self._warm_up_sync)

    async def hash(self, password: str) -> str:
        return await self._queue.run(self._hash_sync, _encode(password))

    async def verify(self, hashed: str | None, password: str) -> bool:
        """True only when `password` matches `hashed`.

        `hashed is None` (unknown email, Google-only account) still pays for a full verify
        against a dummy hash with the same parameters, then answers False.
        """
        return await self._queue.run(self._verify_sync, hashed, password)

    def needs_rehash(self, hashed: str) -> bool:
        """True when `hashed` was made with other parameters than ours (upgrade it on login).

        Never raises: a hash whose parameters cannot be read answers False (it can never have
        verified, so there is no password at hand to rehash with).
        """
        try:
            return self._hasher.check_needs_rehash(hashed)
        except ValueError:  # InvalidHashError is one
            return False

    def _warm_up_sync(self) -> None:
        with self._machine_slot():
            self._get_dummy_hash()

    def _hash_sync(self, password: bytes) -> str:
        with self._machine_slot():
            return self._hasher.hash(password)

    def _verify_sync(self, hashed: str | None, password: str) -> bool:
        with self._machine_slot():
            return self._verify_in_slot(hashed, password)

    def _machine_slot(self) -> contextlib.AbstractContextManager[int | None]:
        # Runs in the hashing thread: waiting here for another process's hash to finish
        # blocks only this thread (and so this process's queued hashes), never the loop.
        # A hash running below the loops' priority takes no slot: it yields the CPU to them
        # anyway, and holding a slot while it crawls would make the other process's hash,
        # raised because logins queue there, wait for it.
        if self._slots is None or self._queue.lowered_here():
            return contextlib.nullcontext()
        return self._slots.hold()

    def _verify_in_slot(self, hashed: str | None, password: str) -> bool:
        if hashed is None:
            self._verify_quietly(self._get_dummy_hash(), password)
            return False
        return self._verify_quietly(hashed, password)

    def _verify_quietly(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, _encode(password))
        except (VerificationError, ValueError):  # ValueError covers InvalidHashError too
            # Mismatch, corrupt or foreign-format hash: all mean "not this password". A stored
            # value we cannot read must never turn a login into a 500.
            return False

    def _get_dummy_hash(self) -> str:
        if self._dummy_hash is None:
            # A random password nobody knows: the verify below must fail, and its cost must be a
            # real argon2id verify at our parameters.
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        return self._dummy_hash


def _encode(password: str) -> bytes:
    # JSON can carry lone surrogates ("\ud800") that strict UTF-8 refuses to encode; hash and
    # verify both encode the same lenient way so such a password neither 500s nor mismatches.
    # For every ordinary string this is exactly UTF-8, the encoding argon2-cffi would use.
    return password.encode("utf-8", "surrogatepass")
