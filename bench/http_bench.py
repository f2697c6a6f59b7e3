"""The production-like HTTP benchmark (issue 14): our server beside two references on one
fresh PostgreSQL database, driven by wrk; prints the table, writes results/latest.json and
results/summary.png.

Scenarios (select by name, `python -m bench status login`): see SCENARIOS at the end.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from bench import bytecode, goals, jobs_bench, profile, report, upload_bench, webhook
from bench.options import Options
from bench.pg import fresh_database
from bench.seed import PASSWORD, Seeded, asyncpg_dsn, seed
from bench.servers import Server, app_env, start_ours, start_reference
from bench.stats import median_of, ratio
from bench.wrk import WrkResult, run_wrk
from tests.redis_server import RedisServer, start_redis_server

RESULTS = Path(__file__).parent / "results"
Results = dict[str, Any]


@dataclass
class Stack:
    """The seeded database and the servers every scenario shares."""

    database_url: str
    workdir: Path
    seeded: Seeded
    env: dict[str, str]
    redis: RedisServer
    ours: Server
    r0: Server
    r1: Server

    @property
    def status_paths(self) -> list[str]:
        return [f"/api/v1/image/status/{i}" for i in self.seeded.image_ids]

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"access_token={self.seeded.access_token}"}


@asynccontextmanager
async def stack(options: Options) -> AsyncIterator[Stack]:
    async with fresh_database() as url:
        with tempfile.TemporaryDirectory(prefix="hairtryon-bench-") as tmp:
            workdir = Path(tmp)
            redis = await asyncio.to_thread(start_redis_server, workdir)
            env = app_env(url, workdir, JOB_BROKER_URL=redis.url(0))
            settings = Settings(DATABASE_URL=url, ACCESS_TOKEN_EXPIRE_MINUTES=600)
            started = time.perf_counter()
            seeded = await seed(url, settings, images=options.images)
            print(f"seeded {options.images} images in {time.perf_counter() - started:.1f} s")
            servers: list[Server] = []
            try:
                servers.append(await start_ours(env, workdir))
                servers.append(await start_reference("r0", "bench.refs:r0", workdir))
                r1_env = {
                    "BENCH_R1_DSN": asyncpg_dsn(url),
                    "BENCH_R1_SECRET": settings.SECRET_KEY.get_secret_value(),
                }
                servers.append(await start_reference("r1", "bench.refs:r1", workdir, r1_env))
                yield Stack(url, workdir, seeded, env, redis, *servers)
            finally:
                for server in servers:
                    await server.stop()
                redis.stop()


async def _check_status_answers(s: Stack) -> None:
    """Before timing anything: ours and R1 answer the same poll with 200 and the same body."""
    path = s.status_paths[0]
    async with httpx.AsyncClient(timeout=10, headers=s.cookie) as client:
        ours = await client.get(s.ours.base_url + path)
        reference = await client.get(s.r1.base_url + path)
    if ours.status_code != 200 or ours.json() != reference.json():
        raise RuntimeError(f"status answers differ: {ours.text} vs {reference.text}")


async def scenario_status(s: Stack, options: Options) -> Results:
    await _check_status_answers(s)
    servers = {
        "r0": (s.r0, ["/hello"]),
        "r1": (s.r1, s.status_paths),
        "ours": (s.ours, s.status_paths),
    }
    runs: dict[tuple[str, int], list[WrkResult]] = {}
    for round_no in range(options.rounds):
        for connections in (1, 64):
            for name, (server, paths) in servers.items():
                profiling = None
                profiled = options.profile and name in ("ours", "r1")
                if profiled and connections == 64 and round_no == 0:
                    pid = server.worker_pids()[0]
                    profiling = await profile.start_profile(
                        pid, f"status-{name}", options.duration_s - 1
                    )
                result = await run_wrk(
                    server.base_url,
                    paths,
                    connections=connections,
                    duration_s=options.duration_s,
                    headers=s.cookie,
                )
                if profiling is not None:
                    await profiling.wait()
                runs.setdefault((name, connections), []).append(result)
    out: Results = {}
    for name in servers:
        rss = servers[name][0].rss_mb()
        out[name] = {
            "c1": median_of(runs[(name, 1)]),
            "c64": median_of(runs[(name, 64)]),
            "rss_mb_per_worker": [round(r, 1) for r in rss],
        }
    ours = out.pop("ours")
    summary: Results = {
        "ratio_r1_c64": ratio(ours["c64"]["rps"], out["r1"]["c64"]["rps"]),
        "ratio_r1_c1": ratio(ours["c1"]["rps"], out["r1"]["c1"]["rps"]),
        "ratio_r0_c64": ratio(ours["c64"]["rps"], out["r0"]["c64"]["rps"]),
        **ours,
        "references": out,
        "goals": {"ratio_r1_min": 0.60, "p99_c64_max_ms": 50, "errors": 0},
    }
    if options.profile:
        # GIL-held ms per request of one worker: its samples over the requests it served
        # (half of the run's, 2 workers) in the sampled seconds.
        first = {name: runs[(name, 64)][0].rps for name in ("ours", "r1")}
        summary["profile"] = {
            name: profile.summarise(f"status-{name}", per_second=first[name] / 2)
            for name in ("ours", "r1")
        }
    return summary


async def _login_looper(base_url: str, email: str, stop: asyncio.Event, times: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            answer = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            if answer.status_code != 200:
                raise RuntimeError(f"login failed: {answer.status_code} {answer.text}")
            times.append(time.perf_counter() - started)
            client.cookies.clear()


async def _status_beside_logins(
    s: Stack, options: Options, loopers: int
) -> tuple[WrkResult, float, float]:
    stop = asyncio.Event()
    times: list[float] = []
    tasks = [
        asyncio.create_task(_login_looper(s.ours.base_url, s.seeded.login_emails[i], stop, times))
        for i in range(loopers)
    ]
    started = time.perf_counter()
    try:
        result = await run_wrk(
            s.ours.base_url,
            s.status_paths,
            connections=64,
            duration_s=options.duration_s,
            headers=s.cookie,
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return result, len(times) / elapsed, max(times, default=0.0) * 1000


async def scenario_login(s: Stack, options: Options) -> Results:
    """Status c64 alone, beside 2 and beside 8 clients looping on a correct login."""
    runs: dict[int, list[WrkResult]] = {0: [], 2: [], 8: []}
    login_rates: dict[int, list[float]] = {2: [], 8: []}
    login_max: dict[int, list[float]] = {2: [], 8: []}
    for _ in range(options.rounds):
        for loopers in runs:
            result, rate, slowest = await _status_beside_logins(s, options, loopers)
            runs[loopers].append(result)
            if loopers:
                login_rates[loopers].append(rate)
                login_max[loopers].append(slowest)
    solo = median_of(runs[0])
    out: Results = {"solo": solo}
    for loopers in (2, 8):
        figures = median_of(runs[loopers])
        out[f"with_{loopers}"] = {
            **figures,
            "ratio_solo": ratio(figures["rps"], solo["rps"]),
            "logins_per_s": round(statistics.median(login_rates[loopers]), 1),
            "login_max_ms": round(max(login_max[loopers]), 1),
        }
    out["goals"] = {"ratio_with_2_min": 0.8, "ratio_with_8_min": 0.6, "max_ms": 1000}
    return out


async def scenario_memory(s: Stack, options: Options) -> Results:
    """RSS per worker of a fresh server of ours after 1k, then after N status requests."""
    server = await start_ours(s.env, s.workdir, name="ours-memory")
    try:
        before = server.rss_mb()
        sent = 0
        marks: dict[str, list[float]] = {}
        for target in (1_000, options.memory_requests):
            while sent < target:
                result = await run_wrk(
                    server.base_url,
                    s.status_paths,
                    connections=16,
                    duration_s=2,
                    headers=s.cookie,
                )
                if result.errors:
                    raise RuntimeError(f"memory run saw {result.errors} errors")
                sent += result.requests
            marks[str(target)] = [round(r, 1) for r in server.rss_mb()]
    finally:
        await server.stop()
    first, last = marks["1000"], marks[str(options.memory_requests)]
    return {
        "rss_mb_idle": [round(r, 1) for r in before],
        "rss_mb_after_1k": first,
        f"rss_mb_after_{options.memory_requests // 1000}k": last,
        "requests": sent,
        "growth_ratio": ratio(max(last), max(first)),
        "goals": {"rss_mb_max": 120, "growth_ratio_max": 1.2},
    }


async def scenario_webhook(s: Stack, options: Options) -> Results:
    return await webhook.scenario_webhook(s.env, s.workdir, options)


async def scenario_generate(s: Stack, options: Options) -> Results:
    return await jobs_bench.scenario_generate(
        s.ours,
        s.status_paths,
        s.seeded.tokens,
        s.database_url,
        options,
        redis_pid=s.redis.process.pid,
    )


async def scenario_pipeline(s: Stack, options: Options) -> Results:
    return await jobs_bench.scenario_pipeline(
        s.env, s.redis.url(1), s.workdir, s.seeded.tokens, s.database_url, options
    )


async def scenario_upload(s: Stack, options: Options) -> Results:
    return await upload_bench.scenario_upload(s.ours, s.status_paths, s.seeded.tokens, options)


SCENARIOS: dict[str, Callable[[Stack, Options], Awaitable[Results]]] = {
    "status": scenario_status,
    "login": scenario_login,
    "generate": scenario_generate,
    "pipeline": scenario_pipeline,
    "upload": scenario_upload,
    "webhook": scenario_webhook,
    "memory": scenario_memory,
}


async def main(names: list[str], options: Options) -> Results:
    results: Results = {
        "options": {
            "quick": options.quick,
            "rounds": options.rounds,
            "duration_s": options.duration_s,
            "images": options.images,
        }
    }
    await bytecode.compile_installed_packages()
    async with stack(options) as s:
        for name in names:
            started = time.perf_counter()
            try:
                results[name] = await SCENARIOS[name](s, options)
            except Exception as exc:  # one broken scenario must not lose the others' figures
                results.setdefault("failed", {})[name] = repr(exc)
                print(f"[{name} FAILED: {exc!r}]")
            print(f"[{name} done in {time.perf_counter() - started:.0f} s]")
    judged = goals.verdicts(results)
    results["verdicts"] = goals.as_json(judged)
    RESULTS.mkdir(exist_ok=True)
    await asyncio.to_thread((RESULTS / "latest.json").write_text, json.dumps(results, indent=2))
    report.print_table(results)
    goals.print_verdicts(judged)
    report.plot(results, RESULTS / "summary.png")
    return results
