"""The Redis broker: taskiq-redis's stream broker, made to recover a dead worker's jobs.

`RedisStreamBroker` (taskiq-redis 1.2.4) reads through a consumer group and acknowledges a
message only after its task ran, so a worker that dies mid-job leaves the message in the group's
pending-entries list (PEL). Two things in its `listen()` keep that from being at-least-once:

- it looks at the PEL (XAUTOCLAIM) only after XREADGROUP returned *new* messages, so with no
  further traffic an orphaned job is never redelivered (upstream PR #129 reworks this);
- nothing marks a running job as alive, so any job running longer than `idle_timeout` is handed
  to a second worker while the first still runs it: the timeout had to exceed the longest job,
  which is also how long a crash takes to be noticed.

This subclass keeps its wire format (one stream entry `{data: message}`), `kick()` and consumer
group declaration, and replaces `listen()`:

- the PEL is scanned on a timer, whether or not new messages arrive;
- a heartbeat re-claims the entries this worker is running (XCLAIM ... JUSTID resets their idle
  time), so only a dead (or frozen) worker's entries go idle: `redeliver_after_s` bounds how long
  recovery takes, not how long a job may run;
- messages are read one at a time, so a worker never holds jobs it has no capacity for (an entry
  waiting in a local buffer would go idle and be taken by another worker);
- an entry is deleted when acknowledged (XACK + XDEL in one transaction), so the stream holds only
  queued and running jobs instead of growing forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncGenerator
from typing import Any

from taskiq import AckableMessage

from app.core.optional_imports import OPENTELEMETRY_SDK, without

# redis-py imports OpenTelemetry's metrics SDK only to annotate a provider for its own metrics,
# which we never turn on (~2 MB per worker with psutil); see app/core/optional_imports.py.
with without(OPENTELEMETRY_SDK):
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.typing import StreamIdT
    from taskiq_redis import RedisStreamBroker

logger = logging.getLogger(__name__)

# Longest a blocking XREADGROUP waits: also the longest `listen()` takes to notice idle entries.
_MAX_READ_BLOCK_S = 2.0


class JobStreamBroker(RedisStreamBroker):
    def __init__(
        self,
        url: str,
        *,
        queue_name: str,
        consumer_group_name: str,
        redeliver_after_s: float,
    ) -> None:
        if redeliver_after_s <= 0:
            raise ValueError("redeliver_after_s must be positive")
        # Heartbeat and PEL scan run four times per window: one slow round trip must not make a
        # running job look dead, and a dead worker's job waits at most ~1.25 windows.
        self._tick_s = redeliver_after_s / 4
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=consumer_group_name,
            # A group created after messages were queued still delivers them ("$" skips them).
            consumer_id="0",
            xread_block=max(1, round(min(self._tick_s, _MAX_READ_BLOCK_S) * 1000)),
            idle_timeout=max(1, round(redeliver_after_s * 1000)),
            xread_count=1,
            unacknowledged_batch_size=1,
        )
        self.redeliver_after_s = redeliver_after_s
        # Entries handed to the receiver and not yet acknowledged: what the heartbeat keeps alive.
        self._running: set[bytes] = set()
        # Entries given up by a stopping worker: never acknowledged, so they are redelivered.
        self._abandoned: set[bytes] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        # Cleared by a stopping worker: `listen()` ends at its next turn (see stop_listening).
        self._listening = True
        self._reclaim_cursor: bytes | str = "0-0"
        self._next_reclaim_at = 0.0

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        # Only workers listen; the API process (which only kicks) never runs a heartbeat.
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._keep_running_entries_alive())
        async with Redis(connection_pool=self.connection_pool) as redis:
            while self._listening:
                try:
                    entries = await self._next_entries(redis)
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    # A Redis restart or blip must not end the worker (and the jobs it runs).
                    logger.warning("job queue: Redis unavailable (%s); retrying", exc)
                    await asyncio.sleep(min(self._tick_s, 1.0))
                    continue
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # Redis lost the stream (restart without persistence, flush): declare again.
                    logger.warning("job queue: consumer group missing; declaring it again")
                    await self._declare_consumer_group()
                    continue
                for entry_id, data in entries:
                    yield self._deliver(entry_id, data)

    def stop_listening(self) -> None:
        """End `listen()` at its next turn, within one blocking read (`_MAX_READ_BLOCK_S`).

        taskiq's receiver stops listening by cancelling the task reading the next message and
        waiting for it, without a bound. In about one stop in four of a test worker (the stop
        right after a job finished) that cancellation was lost: SIGUSR1's task dump showed the
        read task still turning through XREADGROUP 45 s later, and the worker never exited.
        Ending the loop ourselves bounds the stop whatever became of the cancellation."""
        self._listening = False

    async def shutdown(self) -> None:
        # The receiver has waited for its running jobs by now; they needed the heartbeat until
        # then, which is why it stops here and not when `listen()` is closed.
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
            await self._forget_consumer()
        await super().shutdown()

    async def _next_entries(self, redis: Redis) -> list[tuple[bytes, bytes]]:
        now = asyncio.get_running_loop().time()
        if now >= self._next_reclaim_at:
            reclaimed = await self._reclaim_idle_entry(redis)
            if reclaimed:
                # Come straight back: a dead worker may have left more than one.
                return reclaimed
            self._next_reclaim_at = now + self._tick_s
        # redis-py types stream replies loosely; the shape is [(stream, [(id, fields)])].
        fetched: Any = await redis.xreadgroup(
            self.consumer_group_name,
            self.consumer_name,
            {self.queue_name: ">"},
            count=1,
            block=self.block,
        )
        return [
            (entry_id, fields[b"data"])
            for _stream, stream_entries in fetched or []
            for entry_id, fields in stream_entries
        ]

    async def _reclaim_idle_entry(self, redis: Redis) -> list[tuple[bytes, bytes]]:
        # XAUTOCLAIM is atomic and resets the idle time of what it claims, so two workers
        # scanning at once never both take an entry.
        # [next cursor, [(id, fields)], deleted ids]
        reply: Any = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            start_id=self._reclaim_cursor,
            count=self.unacknowledged_batch_size,
        )
        self._reclaim_cursor = reply[0]
        reclaimed: list[tuple[bytes, bytes]] = []
        for entry_id, fields in reply[1]:
            if not fields or entry_id in self._running:
                # Deleted from the stream, or our own running job whose heartbeat came late:
                # the claim refreshed it; running it twice here would be a needless duplicate.
                continue
            logger.warning("job queue: redelivering %s, idle on a worker that stopped", entry_id)
            reclaimed.append((entry_id, fields[b"data"]))
        return reclaimed

    def _deliver(self, entry_id: bytes, data: bytes) -> AckableMessage:
        self._running.add(entry_id)
        return AckableMessage(data=data, ack=functools.partial(self._ack, entry_id))

    def abandon_running(self) -> int:
        """A stopping worker is about to cancel what still runs: those entries stay pending
        (taskiq's receiver acknowledges a cancelled task like a finished one) and go to another
        worker after the redelivery window. Returns how many."""
        self._abandoned |= self._running
        return len(self._running)

    async def _ack(self, entry_id: bytes) -> None:
        if entry_id in self._abandoned:
            self._running.discard(entry_id)
            return
        try:
            async with (
                Redis(connection_pool=self.connection_pool) as redis,
                redis.pipeline(transaction=True) as pipe,
            ):
                pipe.xack(self.queue_name, self.consumer_group_name, entry_id)
                pipe.xdel(self.queue_name, entry_id)
                await pipe.execute()
        finally:
            # Even when the ack failed: left out of the heartbeat, the entry goes idle and is
            # delivered again (at least once) instead of being held forever by a live worker.
            self._running.discard(entry_id)

    async def _keep_running_entries_alive(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                await asyncio.sleep(self._tick_s)
                running: list[StreamIdT] = [*self._running]
                if not running:
                    continue
                try:
                    # JUSTID: reset the idle time without counting another delivery.
                    await redis.xclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=0,
                        message_ids=running,
                        justid=True,
                    )
                except RedisError as exc:
                    logger.warning("job queue: heartbeat failed (%s)", exc)

    async def _forget_consumer(self) -> None:
        """Remove this worker from the group unless it still holds entries.

        Every worker process is a new consumer (a random name); without this the group's list
        of consumers grows with every restart. One that holds entries is kept: deleting it
        would drop them from the PEL, and they must stay there to be reclaimed.
        """
        try:
            async with Redis(connection_pool=self.connection_pool) as redis:
                held = await redis.xpending_range(
                    self.queue_name,
                    self.consumer_group_name,
                    min="-",
                    max="+",
                    count=1,
                    consumername=self.consumer_name,
                )
                if not held:
                    await redis.xgroup_delconsumer(
                        self.queue_name, self.consumer_group_name, self.consumer_name
                    )
        except RedisError as exc:
            logger.warning("job queue: could not remove consumer %s (%s)", self.consumer_name, exc)
