"""Charts as inline SVG, drawn on the server: the dashboard needs no JavaScript or front-end build."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from agent.reports import DayCounts

OUTCOME_COLOURS = {"answered": "#2e8540", "abstained": "#e8b339", "error": "#d72b3f"}


def questions_per_day(days: Sequence[DayCounts], *, width: int = 720, height: int = 180) -> str:
    """Stacked bars: answered, abstained and error questions for each day, with a hover title per bar."""
    if not days:
        return ""
    top = max((d.total for d in days), default=0) or 1
    gap, margin = 2, 24  # margin: room for the first and last day's label
    bar = max((width - 2 * margin - gap * len(days)) / len(days), 1.0)
    plot = height - 20  # room for the day labels
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Questions per day" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    label_every = max(1, len(days) // 10)
    for index, day in enumerate(days):
        x = margin + index * (bar + gap)
        y = float(plot)
        title = escape(f"{day.day.isoformat()}: {day.answered} answered, {day.abstained} abstained, {day.error} errors")
        parts.append(f'<g data-day="{day.day.isoformat()}" data-total="{day.total}"><title>{title}</title>')
        for outcome, colour in OUTCOME_COLOURS.items():
            count = getattr(day, outcome)
            if count:
                h = plot * count / top
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}"/>')
        parts.append("</g>")
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 5}" font-size="10" text-anchor="middle" fill="#616061">'
                f"{day.day.strftime('%d %b')}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
