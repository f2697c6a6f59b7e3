"""The bench's verdict on each goal: judged from the run's own figures, a miss names its profile."""

from __future__ import annotations

import re
from typing import Any

from app.core.config import PROJECT_ROOT
from bench import goals


def _figures(rps: float, p99_ms: float, errors: int = 0) -> dict[str, Any]:
    return {"rps": rps, "p50_ms": 1.0, "p99_ms": p99_ms, "errors": errors, "max_ms": p99_ms}


def _status(ratio: float, p99_ms: float) -> dict[str, Any]:
    r1 = {"c1": _figures(1000, 5), "c64": _figures(1000, 300), "rss_mb_per_worker": [65, 65]}
    return {
        "c1": _figures(1000 * ratio, 5),
        "c64": _figures(1000 * ratio, p99_ms),
        "ratio_r1_c1": ratio,
        "ratio_r1_c64": ratio,
        "references": {"r0": r1, "r1": r1},
        "goals": {"ratio_r1_min": 0.60, "p99_c64_max_ms": 50, "errors": 0},
    }


def test_a_status_run_within_every_goal_is_judged_met() -> None:
    found = goals.verdicts({"status": _status(ratio=1.2, p99_ms=40)})

    assert [v.met for v in found] == [True, True, True, True]


def test_a_missed_goal_is_reported_with_its_figure_and_the_section_that_profiles_it() -> None:
    found = goals.verdicts({"status": _status(ratio=1.2, p99_ms=320)})

    missed = [v for v in found if not v.met]
    assert len(missed) == 1
    assert "320" in missed[0].measured
    assert "R1 in the same rounds: 300" in missed[0].measured
    assert "MISSED" in missed[0].line()
    assert missed[0].profile in missed[0].line()


def test_slow_logins_miss_the_one_second_goal_even_when_the_ratios_hold() -> None:
    looped = {"rps": 900.0, "ratio_solo": 0.9, "max_ms": 400.0}
    login = {
        "solo": _figures(1000, 100),
        "with_2": {**looped, "login_max_ms": 300.0},
        "with_8": {**looped, "login_max_ms": 1400.0},
        "goals": {"ratio_with_2_min": 0.8, "ratio_with_8_min": 0.6, "max_ms": 1000},
    }

    found = goals.verdicts({"login": login})

    assert [v.met for v in found] == [True, True, False]
    assert "1400" in found[2].measured


def test_scenarios_that_did_not_run_are_not_judged() -> None:
    assert goals.verdicts({"options": {}, "failed": {"status": "boom"}}) == []


def test_every_profile_a_verdict_names_is_a_section_of_the_bench_readme() -> None:
    readme = (PROJECT_ROOT / goals.README).read_text()
    headings = {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", readme, re.MULTILINE)}

    assert set(goals.PROFILES.values()) <= headings
