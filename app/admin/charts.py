"""Server-rendered SVG charts for the dashboard: no script, no CDN, every label escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 720
HEIGHT = 220
MARGIN_LEFT = 44
MARGIN_BOTTOM = 28
MARGIN_TOP = 12


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    colour: str
    values: Sequence[float]


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Vertical bars, one per label, each stacking the series' values."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    # Counts: a whole-number scale with an even top, so the middle line is whole too.
    top = max(2, math.ceil(max(totals, default=0)))
    top += top % 2
    plot_w = WIDTH - MARGIN_LEFT - 8
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    step = plot_w / max(len(labels), 1)
    bar_w = max(step * 0.7, 1)
    parts = [_open(title)]
    parts += _y_axis(top, plot_h)
    for i, label in enumerate(labels):
        x = MARGIN_LEFT + i * step + (step - bar_w) / 2
        y: float = MARGIN_TOP + plot_h
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{escape(s.colour)}">'
                f"<title>{escape(label)} {escape(s.label)}: {_number(value)}</title></rect>"
            )
        if len(labels) <= 16 or i % max(len(labels) // 8, 1) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 8}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts += _legend(series)
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(title: str, rows: Sequence[tuple[str, float]], colour: str) -> Markup:
    """One labelled bar per row (top failure codes, credits by reason)."""
    row_h = 22
    height = max(len(rows), 1) * row_h + 16
    label_w = 220
    top = max((value for _, value in rows), default=0) or 1
    plot_w = WIDTH - label_w - 60
    parts = [_open(title, height)]
    if not rows:
        parts.append(f'<text x="8" y="{height / 2 + 4:.0f}" font-size="12">No data yet</text>')
    for i, (label, value) in enumerate(rows):
        y = 8 + i * row_h
        w = max(plot_w * value / top, 1)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" font-size="11" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}"'
            f' fill="{escape(colour)}"><title>{escape(label)}: {_number(value)}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" font-size="11">{_number(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(title: str, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="hairtryon-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def _y_axis(top: float, plot_h: float) -> list[str]:
    parts = []
    for fraction in (0, 0.5, 1):
        y = MARGIN_TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end">{_number(top * fraction)}</text>'
        )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    for i, s in enumerate(series):
        x = MARGIN_LEFT + i * 110
        parts.append(
            f'<rect x="{x}" y="0" width="10" height="10" fill="{escape(s.colour)}"/>'
            f'<text x="{x + 14}" y="9" font-size="10">{escape(s.label)}</text>'
        )
    return parts


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
