"""Generation scenarios on the bench stack.

- generate: accepting a generation (idempotency row + job row + debit, face check cached at
  the first use of the upload) by wrk at c1 and c16, beside status at c16 in the same rounds;
  CR-01's counts are checked afterwards (balance == SUM(ledger), one debit and one idempotency
  row per accepted job, nothing else). No job worker runs: the jobs wait in Redis.
- pipeline: a server of ours on its own Redis database with 2 job workers whose generator
  answers at once (bench/instant.py); completed generations per second, end to end.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from app.core.config import PROJECT_ROOT
from bench import profile
from bench.backing_cpu import backing_services
from bench.options import Options
from bench.seed import CREDITS, asyncpg_dsn
from bench.servers import Server, start_ours
from bench.stats import median_of, ratio
from bench.wrk import WrkResult, run_wrk

PORTRAIT = PROJECT_ROOT / "tests" / "fixtures" / "portrait.jpg"
GENERATE_USER = 2
PIPELINE_USER = 3
PIPELINE_JOBS = 200


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def uploaded_key(server: Server, token: str, data: bytes) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        answer = await client.post(
            "/api/v1/files/upload",
            files={"file": ("portrait.jpg", data, "image/jpeg")},
            headers=bearer(token),
        )
    if answer.status_code != 200:
        raise RuntimeError(f"upload failed: {answer.status_code} {answer.text}")
    return str(answer.json()["key"])


async def _style_id(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT min(id) FROM styles"))
    finally:
        await connection.close()


async def _generate_body(server: Server, token: str, dsn: str) -> str:
    key = await uploaded_key(server, token, PORTRAIT.read_bytes())
    return json.dumps({"image_input_url": key, "style_id": await _style_id(dsn)})


async def ledger_counts(dsn: str, user_id: int) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            """
            SELECT (SELECT credits FROM users WHERE id = $1) AS balance,
                   (SELECT coalesce(sum(delta), 0) FROM credit_ledger WHERE user_id = $1)
                       AS ledger_sum,
                   (SELECT count(*) FROM credit_ledger WHERE user_id = $1
                        AND reason = 'generation') AS debits,
                   (SELECT count(*) FROM images WHERE user_id = $1) AS jobs,
                   (SELECT count(*) FROM idempotency_keys WHERE user_id = $1) AS keys
            """,
            user_id,
        )
    finally:
        await connection.close()
    return {name: int(row[name]) for name in ("balance", "ledger_sum", "debits", "jobs", "keys")}


async def scenario_generate(
    ours: Server,
    status_paths: list[str],
    tokens: dict[int, str],
    database_url: str,
    options: Options,
    *,
    redis_pid: int | None = None,
) -> dict[str, Any]:
    dsn = asyncpg_dsn(database_url)
    backing = await backing_services(dsn, redis_pid)
    token = tokens[GENERATE_USER]
    body = await _generate_body(ours, token, dsn)
    before = await ledger_counts(dsn, GENERATE_USER)
    runs: dict[str, list[WrkResult]] = {"generate_c1": [], "generate_c16": [], "status_c16": []}
    cpu_ms: dict[str, list[float]] = {name: [] for name in runs}
    backing_ms: dict[str, dict[str, list[float]]] = {}
    salt = 0
    for round_no in range(options.rounds):
        for name in runs:
            salt += 1
            profiling = None
            if options.profile and name == "generate_c16" and round_no == 0:
                profiling = await profile.start_profile(
                    ours.worker_pids()[0], "generate-ours", options.duration_s - 1
                )
            cpu_before, backing_before = ours.cpu_s(), backing.cpu_s()
            if name == "status_c16":
                result = await run_wrk(
                    ours.base_url,
                    status_paths,
                    connections=16,
                    duration_s=options.duration_s,
                    headers={"Cookie": f"access_token={tokens[1]}"},
                )
            else:
                result = await run_wrk(
                    ours.base_url,
                    ["/api/v1/image/generate"],
                    connections=1 if name == "generate_c1" else 16,
                    duration_s=options.duration_s,
                    method="POST",
                    body=body,
                    headers={**bearer(token), "Content-Type": "application/json"},
                    idempotency_keys=True,
                    salt=salt,
                )
            if profiling is not None:
                await profiling.wait()
            # Requests still in flight at wrk's deadline are not counted: a slight overestimate.
            requests = max(1, result.requests)
            cpu_ms[name].append(1000 * (ours.cpu_s() - cpu_before) / requests)
            for service, seconds in backing.cpu_s().items():
                spent = 1000 * (seconds - backing_before[service]) / requests
                backing_ms.setdefault(service, {}).setdefault(name, []).append(spent)
            runs[name].append(result)
    after = await ledger_counts(dsn, GENERATE_USER)
    answered = sum(r.requests - r.errors for n, rs in runs.items() if n != "status_c16" for r in rs)
    # wrk stops counting at its deadline; requests then in flight (at most one per connection
    # per run) still complete on the server.
    in_flight = (1 + 16) * options.rounds
    grown = {name: after[name] - before[name] for name in ("debits", "jobs", "keys")}
    cr01 = {
        **after,
        **{f"new_{name}": value for name, value in grown.items()},
        "answered_200": answered,
        "holds": after["balance"] == after["ledger_sum"] == CREDITS - after["debits"]
        and grown["debits"] == grown["jobs"] == grown["keys"]
        and answered <= grown["jobs"] <= answered + in_flight,
    }
    figures = {name: median_of(results) for name, results in runs.items()}
    profiled: dict[str, Any] = {}
    if options.profile:
        # One worker serves about half of the first round's requests (2 workers).
        first = runs["generate_c16"][0].rps / 2
        profiled = {"profile": profile.summarise("generate-ours", per_second=first)}
    return {
        **profiled,
        "c1": figures["generate_c1"],
        "c16": figures["generate_c16"],
        "status_c16": figures["status_c16"],
        "ratio_status_c16": ratio(figures["generate_c16"]["rps"], figures["status_c16"]["rps"]),
        # Server CPU per request (both workers, median of the rounds): the cost behind the
        # rates, steadier than req/s on a shared machine.
        "cpu_ms_per_request": {
            name: round(statistics.median(values), 2) for name, values in cpu_ms.items()
        },
        # The same for PostgreSQL and Redis (their whole servers, bench/backing_cpu.py): what
        # one request costs the machine besides our workers.
        "backing_cpu_ms_per_request": {
            service: {name: round(statistics.median(values), 2) for name, values in by.items()}
            for service, by in backing_ms.items()
        },
        "cr01": cr01,
        "goals": {"ratio_status_min": 0.5, "cr01_holds": True},
    }


async def _start_workers(env: dict[str, str], workdir: Path) -> list[asyncio.subprocess.Process]:
    workers = []
    for i in range(2):
        log = (workdir / f"job-worker-{i}.log").open("wb")
        workers.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app.jobs",
                "--max-async-tasks",
                "8",
                "--handlers",
                "bench.instant:build_handlers",
                cwd=str(PROJECT_ROOT),
                env=env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        )
        log.close()
    return workers


async def _completed(dsn: str, user_id: int) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM images WHERE user_id = $1 AND status = 'completed'", user_id
            )
        )
    finally:
        await connection.close()


async def _one_batch(
    server: Server, token: str, body: str, dsn: str, count: int, timeout_s: float
) -> float:
    """Seconds from the first request until `count` more of the user's images completed."""
    done_before = await _completed(dsn, PIPELINE_USER)
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            answer = await client.post(
                "/api/v1/image/generate",
                content=body,
                headers={
                    **bearer(token),
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"pipe-{started}-{i}",
                },
            )
            if answer.status_code != 200:
                raise RuntimeError(f"generate failed: {answer.status_code} {answer.text}")

        await asyncio.gather(*(one(i) for i in range(count)))
    while await _completed(dsn, PIPELINE_USER) < done_before + count:
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError("pipeline jobs did not complete in time")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def scenario_pipeline(
    env: dict[str, str],
    redis_url: str,
    workdir: Path,
    tokens: dict[int, str],
    database_url: str,
    options: Options,
) -> dict[str, Any]:
    pipeline_env = {**env, "JOB_BROKER_URL": redis_url}
    server = await start_ours(pipeline_env, workdir, name="ours-pipeline")
    workers = await _start_workers({**os.environ, **pipeline_env}, workdir)
    dsn = asyncpg_dsn(database_url)
    token = tokens[PIPELINE_USER]
    count = PIPELINE_JOBS // 4 if options.quick else PIPELINE_JOBS
    try:
        body = await _generate_body(server, token, dsn)
        await _one_batch(server, token, body, dsn, 10, 120)  # warm: workers up, face cached
        rates = []
        for _ in range(options.rounds):
            elapsed = await _one_batch(server, token, body, dsn, count, 300)
            rates.append(count / elapsed)
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.terminate()
        for worker in workers:
            await worker.wait()
        await server.stop()
    return {
        "jobs_per_round": count,
        "completed_per_s": round(statistics.median(rates), 1),
        "rounds": [round(r, 1) for r in rates],
        "goals": {"completed_per_s_min": 50},
    }
