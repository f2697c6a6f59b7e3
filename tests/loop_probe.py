"""Proving that CPU work runs off the event loop by ordering, not by timing.

`LoopProbe.wrap(owner, name)` wraps a *library* function (argon2, Pillow; never our own code) so
that every call, before doing its work, asks the event loop to run a callback and waits for it.
Called from a worker thread, the loop is free and runs the callback: the call records True, and
the loop has provably served other work while the call was in progress. Called on the loop's own
thread, the loop is busy with the call itself and cannot run the callback: the call records False
once `patience` runs out. `patience` is only how long a broken build waits before failing, not a
measurement; a correct build answers as soon as the loop gets the callback.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import pytest

DEFAULT_PATIENCE_S = 30.0


class LoopProbe:
    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        loop: asyncio.AbstractEventLoop,
        patience: float = DEFAULT_PATIENCE_S,
    ) -> None:
        self._monkeypatch = monkeypatch
        self._loop = loop
        self._patience = patience
        self._lock = threading.Lock()
        self._active = 0
        # One entry per call, in call order: (function name, served by the loop, positional args).
        self.calls: list[tuple[str, bool, tuple[Any, ...]]] = []
        # Most calls of the wrapped functions in progress at once (a capacity limiter of 1 keeps
        # this at 1).
        self.peak_concurrency = 0

    def wrap(self, owner: object, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def probed(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._active += 1
                self.peak_concurrency = max(self.peak_concurrency, self._active)
            try:
                served = threading.Event()
                self._loop.call_soon_threadsafe(served.set)
                on_loop = served.wait(self._patience)
                with self._lock:
                    self.calls.append((name, on_loop, args))
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self._active -= 1

        self._monkeypatch.setattr(owner, name, probed)

    def served(self, name: str | None = None) -> list[bool]:
        """For each call (of `name`, or of every wrapped function): did the loop serve meanwhile."""
        return [ok for called, ok, _ in self.calls if name is None or called == name]

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, _, args in self.calls if called == name]
