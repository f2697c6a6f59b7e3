"""The dashboard page's presentation: figures from DashboardService turned into SVG charts."""

from __future__ import annotations

from typing import Any

from app.admin.charts import Series, horizontal_bars, stacked_bars
from app.admin.service import Dashboard


def render_context(data: Dashboard) -> dict[str, Any]:
    labels = [day.day.strftime("%m-%d") for day in data.per_day]
    generations = stacked_bars(
        "Generations per day",
        labels,
        [
            Series("completed", "#2fb344", [d.completed for d in data.per_day]),
            Series("failed", "#d63939", [d.failed for d in data.per_day]),
            Series("other", "#f59f00", [d.other for d in data.per_day]),
        ],
    )
    failures = horizontal_bars(
        "Top failure codes", [(code, float(n)) for code, n in data.top_failures], "#d63939"
    )
    credit_rows = [(f"{reason} granted", float(g)) for reason, g, _ in data.credits if g] + [
        (f"{reason} spent", float(s)) for reason, _, s in data.credits if s
    ]
    credits = horizontal_bars("Credits by reason", credit_rows, "#206bc4")
    revenue = horizontal_bars(
        "Revenue by settlement currency (major units)",
        [(currency, amount / 100) for currency, amount, _ in data.revenue],
        "#2fb344",
    )
    return {
        "title": "Dashboard",
        "data": data,
        "charts": {
            "generations": generations,
            "failures": failures,
            "credits": credits,
            "revenue": revenue,
        },
        "failure_rate": "—" if data.failure_rate is None else f"{data.failure_rate:.1%}",
        "median": "—" if data.median_s is None else f"{data.median_s:.1f} s",
        "p95": "—" if data.p95_s is None else f"{data.p95_s:.1f} s",
    }
