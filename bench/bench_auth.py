"""AUTH-04 and AUTH-12 figures.

- AUTH-04: a verify without a stored hash (unknown account) against a real verify with a wrong
  password, in-process; and the same over HTTP: login with an unknown email against login with
  a wrong password, on the real server. The ratios should be close to 1.
- AUTH-12: /health latency from a separate probe process, idle and while 4 clients keep
  logging in (argon2 off the loop, one hash at a time, keeps it low).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

import httpx

from app.auth.passwords import PasswordHasher
from app.core.config import PROJECT_ROOT
from bench.common import ratio_line, side_by_side, sqlite_server
from tests.auth.flows import FRONTEND, PASSWORD, new_email
from tests.e2e.test_accounts_e2e import _signed_up


async def verify_costs() -> None:
    hasher = PasswordHasher()
    stored = await hasher.hash(PASSWORD)
    await hasher.warm_up()

    def timed(hashed: str | None) -> Callable[[], Awaitable[float]]:
        async def case() -> float:
            started = time.perf_counter()
            await hasher.verify(hashed, "wrong password")
            return time.perf_counter() - started

        return case

    medians = await side_by_side(
        "AUTH-04 verify", {"no stored hash (dummy)": timed(None), "wrong password": timed(stored)}
    )
    ratio_line("dummy / real", medians, "no stored hash (dummy)", "wrong password")


async def login_costs_and_health_under_load() -> None:
    async with sqlite_server() as server:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"Origin": FRONTEND}, timeout=30
        ) as client:
            email = await _signed_up(client, server.mail_dir)
            client.cookies.clear()

            def login(target: Callable[[], str]) -> Callable[[], Awaitable[float]]:
                async def case() -> float:
                    started = time.perf_counter()
                    response = await client.post(
                        "/api/v1/auth/login", json={"email": target(), "password": "wrong"}
                    )
                    assert response.status_code == 401, response.text
                    return time.perf_counter() - started

                return case

            medians = await side_by_side(
                "AUTH-04 login over HTTP",
                {"unknown email": login(new_email), "wrong password": login(lambda: email)},
                rounds=15,
            )
            ratio_line("unknown / wrong", medians, "unknown email", "wrong password")

        async def health(load: bool) -> float:
            """p99-ish (the max) /health latency over 1.5 s from a separate process."""
            stop = asyncio.Event()

            async def log_in_forever() -> None:
                async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as c:
                    while not stop.is_set():
                        await c.post(
                            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                        )

            workers = [asyncio.create_task(log_in_forever()) for _ in range(4 if load else 0)]
            try:
                probe = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.probe",
                    server.base_url,
                    "1.5",
                    cwd=str(PROJECT_ROOT),
                    stdout=asyncio.subprocess.PIPE,
                )
                output, _ = await probe.communicate()
            finally:
                stop.set()
                await asyncio.gather(*workers)
            return float(max(json.loads(output)))

        await side_by_side(
            "AUTH-12 slowest /health probe in 1.5 s (target: under 100 ms)",
            {"idle": lambda: health(False), "4 clients logging in": lambda: health(True)},
            rounds=3,
        )


async def main() -> None:
    await verify_costs()
    await login_costs_and_health_under_load()


if __name__ == "__main__":
    asyncio.run(main())
