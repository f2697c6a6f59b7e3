"""A latency probe run in its own process, so the test runner's pauses (its heap is large
after hundreds of tests) are not mistaken for the server's.

    python -m bench.probe BASE_URL SECONDS   → prints one JSON list of latencies (s)
"""

from __future__ import annotations

import json
import sys
import time

import httpx


def main() -> None:
    base_url, seconds = sys.argv[1], float(sys.argv[2])
    latencies: list[float] = []
    with httpx.Client(base_url=base_url, timeout=5) as client:
        client.get("/health")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
    print(json.dumps(latencies))


if __name__ == "__main__":
    main()
