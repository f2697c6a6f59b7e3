"""`python -m bench [NAME...]` (what `make bench` runs): every benchmark, or the named ones."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from bench import bench_auth, bench_images, bench_photo_checks, bench_webhooks

BENCHES: dict[str, Callable[[], Awaitable[None]]] = {
    "auth": bench_auth.main,
    "webhooks": bench_webhooks.main,
    "images": bench_images.main,
    "photos": bench_photo_checks.main,
}


async def main(names: list[str]) -> None:
    for name in names or list(BENCHES):
        await BENCHES[name]()


if __name__ == "__main__":
    unknown = set(sys.argv[1:]) - set(BENCHES)
    if unknown:
        sys.exit(f"unknown benchmark(s) {sorted(unknown)}; choose from {sorted(BENCHES)}")
    asyncio.run(main(sys.argv[1:]))
