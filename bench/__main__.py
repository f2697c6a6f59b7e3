"""`python -m bench [NAME...] [--quick] [--profile]` (what `make bench` runs).

HTTP scenarios on PostgreSQL (bench/http_bench.py): status, login, generate, pipeline, upload,
webhook, memory.
In-process and SQLite figures (bench/README.md): auth, webhooks, images, photos.
No name: every HTTP scenario, then the moved figures.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from bench import bench_auth, bench_images, bench_photo_checks, bench_webhooks, http_bench
from bench.options import Options

FIGURES: dict[str, Callable[[], Awaitable[None]]] = {
    "auth": bench_auth.main,
    "webhooks": bench_webhooks.main,
    "images": bench_images.main,
    "photos": bench_photo_checks.main,
}


async def main(names: list[str], options: Options) -> None:
    scenarios = (
        [n for n in names if n in http_bench.SCENARIOS] if names else list(http_bench.SCENARIOS)
    )
    if scenarios:
        await http_bench.main(scenarios, options)
    for name in [n for n in names if n in FIGURES] if names else list(FIGURES):
        await FIGURES[name]()


if __name__ == "__main__":
    choices = [*http_bench.SCENARIOS, *FIGURES]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(choices)}")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 s (a smoke run)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy a worker of ours (and of R1) at status c64 and generate c16",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(choices))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {choices}")
    asyncio.run(main(args.names, Options(quick=args.quick, profile=args.profile)))
