"""Each issue-14 goal judged against one run's figures, and where a missed one is profiled.

The thresholds are the ones each scenario records under its own `"goals"` key, so the table, the
JSON and this verdict cannot disagree. A goal that is missed names the bench/README.md section
holding its profile (where the time goes, what was tried, what would close it): the issue's
"done when" asks for the goal met or that profile, and a reader of one run should not have to
search for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

README = "bench/README.md"

# The README section that profiles each goal when it is missed.
PROFILES = {
    "status_p99": "What the missed goals need (session 9)",
    "status_ratio": "The status read on asyncpg, prepared JWT keys (branch h-status)",
    "login": "Logins that yield to the loops (session 8)",
    "generate": "What the missed goals need (session 9)",
    "pipeline": "Accept, pipeline, upload and webhook (h-accept14)",
    "upload": "What the missed goals need (session 9)",
    "webhook": "Accept, pipeline, upload and webhook (h-accept14)",
    "memory": "Memory per worker, second pass: optional imports libraries try (h-mem2)",
}


@dataclass(frozen=True)
class Verdict:
    scenario: str
    goal: str
    measured: str
    met: bool
    profile: str  # the README section to read when the goal is missed

    def line(self) -> str:
        mark = "met   " if self.met else "MISSED"
        where = "" if self.met else f'  -> {README}, "{self.profile}"'
        return f"  {mark} {self.scenario:<9} {self.goal:<40} {self.measured}{where}"


def _status(status: dict[str, Any]) -> list[Verdict]:
    goals = status["goals"]
    r1_p99 = status["references"]["r1"]["c64"]["p99_ms"]
    verdicts = [
        Verdict(
            "status",
            f"ratio to R1 at {c} >= {goals['ratio_r1_min']}",
            f"{status[f'ratio_r1_{c}']:.2f}x",
            status[f"ratio_r1_{c}"] >= goals["ratio_r1_min"],
            PROFILES["status_ratio"],
        )
        for c in ("c1", "c64")
    ]
    verdicts.append(
        Verdict(
            "status",
            f"c64 p99 <= {goals['p99_c64_max_ms']} ms",
            f"{status['c64']['p99_ms']} ms (R1 in the same rounds: {r1_p99} ms)",
            status["c64"]["p99_ms"] <= goals["p99_c64_max_ms"],
            PROFILES["status_p99"],
        )
    )
    errors = status["c1"]["errors"] + status["c64"]["errors"]
    verdicts.append(
        Verdict(
            "status", "0 errors", str(errors), errors <= goals["errors"], PROFILES["status_p99"]
        )
    )
    return verdicts


def _login(login: dict[str, Any]) -> list[Verdict]:
    goals = login["goals"]
    verdicts = [
        Verdict(
            "login",
            f"status beside {n} loopers >= {goals[f'ratio_with_{n}_min']} x solo",
            f"{login[f'with_{n}']['ratio_solo']:.2f}x",
            login[f"with_{n}"]["ratio_solo"] >= goals[f"ratio_with_{n}_min"],
            PROFILES["login"],
        )
        for n in (2, 8)
    ]
    slowest = max(
        max(login[f"with_{n}"]["max_ms"], login[f"with_{n}"]["login_max_ms"]) for n in (2, 8)
    )
    verdicts.append(
        Verdict(
            "login",
            f"no request > {goals['max_ms']} ms",
            f"slowest {slowest} ms",
            slowest <= goals["max_ms"],
            PROFILES["login"],
        )
    )
    return verdicts


def _generate(generate: dict[str, Any]) -> list[Verdict]:
    goals = generate["goals"]
    return [
        Verdict(
            "generate",
            f"accept >= {goals['ratio_status_min']} x status (c16)",
            f"{generate['ratio_status_c16']:.2f}x",
            generate["ratio_status_c16"] >= goals["ratio_status_min"],
            PROFILES["generate"],
        ),
        Verdict(
            "generate",
            "CR-01 counts hold afterwards",
            str(generate["cr01"]["holds"]),
            generate["cr01"]["holds"] is True,
            PROFILES["generate"],
        ),
    ]


def _pipeline(pipeline: dict[str, Any]) -> list[Verdict]:
    least = pipeline["goals"]["completed_per_s_min"]
    return [
        Verdict(
            "pipeline",
            f">= {least} completed generations/s",
            f"{pipeline['completed_per_s']}/s",
            pipeline["completed_per_s"] >= least,
            PROFILES["pipeline"],
        )
    ]


def _upload(upload: dict[str, Any]) -> list[Verdict]:
    goals = upload["goals"]
    photo = upload.get("photo", "noise")
    return [
        Verdict(
            "upload",
            f"{photo} p95 (4 clients) <= {goals['upload_p95_ms_max']} ms",
            f"{upload['upload_p95_ms_alone']} ms",
            upload["upload_p95_ms_alone"] <= goals["upload_p95_ms_max"],
            PROFILES["upload"],
        ),
        Verdict(
            "upload",
            f"status p99 beside uploads <= {goals['status_p99_ratio_max']} x solo",
            f"{upload['status_p99_ratio']:.2f}x",
            upload["status_p99_ratio"] <= goals["status_p99_ratio_max"],
            PROFILES["upload"],
        ),
    ]


def _webhook(webhook: dict[str, Any]) -> list[Verdict]:
    most = webhook["goals"]["p99_ms_max"]
    return [
        Verdict(
            "webhook",
            f"p99 <= {most} ms at {webhook['rate_per_s']}/s, 0 errors",
            f"p99 {webhook['p99_ms']} ms, errors {webhook['errors']}",
            webhook["p99_ms"] <= most and webhook["errors"] == 0,
            PROFILES["webhook"],
        )
    ]


def _memory(memory: dict[str, Any]) -> list[Verdict]:
    goals = memory["goals"]
    peak = max(max(v) for k, v in memory.items() if k.startswith("rss_mb_"))
    return [
        Verdict(
            "memory",
            f"RSS per worker <= {goals['rss_mb_max']} MB",
            f"{peak} MB at most",
            peak <= goals["rss_mb_max"],
            PROFILES["memory"],
        ),
        Verdict(
            "memory",
            f"growth <= {goals['growth_ratio_max']}x",
            f"{memory['growth_ratio']}x",
            memory["growth_ratio"] <= goals["growth_ratio_max"],
            PROFILES["memory"],
        ),
    ]


JUDGES = {
    "status": _status,
    "login": _login,
    "generate": _generate,
    "pipeline": _pipeline,
    "upload": _upload,
    "webhook": _webhook,
    "memory": _memory,
}


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    """Every goal of the scenarios that ran, in the table's order."""
    return [v for name, judge in JUDGES.items() if name in results for v in judge(results[name])]


def as_json(found: list[Verdict]) -> list[dict[str, Any]]:
    return [asdict(v) for v in found]


def print_verdicts(found: list[Verdict]) -> None:
    if not found:
        return
    met = sum(v.met for v in found)
    print(f"\n=== goals: {met} of {len(found)} met ===")
    for verdict in found:
        print(verdict.line())
