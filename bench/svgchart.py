"""A log-log line chart as a standalone SVG: decades on both axes, one polyline per series, a legend.

Small on purpose (no plotting library in the project's dependencies); the benchmarks write their charts with it
so BENCHMARKS.md can show how a cost grows with size.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 40, 60
COLOURS = ("#2563eb", "#dc2626", "#059669", "#d97706")


def _decades(low: float, high: float) -> tuple[int, int]:
    return math.floor(math.log10(low)), math.ceil(math.log10(high))


def _label(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def loglog_chart(
    *, title: str, x_label: str, y_label: str, series: dict[str, list[tuple[float, float]]], linear_guide: bool = True
) -> str:
    """Every point must be positive (a log axis has no zero). With ``linear_guide``, a dashed grey line of slope 1
    through the first series' first point shows what linear growth would look like."""
    points = [point for values in series.values() for point in values]
    if not points or any(x <= 0 or y <= 0 for x, y in points):
        raise ValueError("a log-log chart needs at least one point, all coordinates positive")
    x_low, x_high = _decades(min(x for x, _ in points), max(x for x, _ in points))
    y_low, y_high = _decades(min(y for _, y in points), max(y for _, y in points))
    x_high, y_high = max(x_high, x_low + 1), max(y_high, y_low + 1)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (math.log10(x) - x_low) / (x_high - x_low) * plot_width

    def py(y: float) -> float:
        return TOP + plot_height - (math.log10(y) - y_low) / (y_high - y_low) * plot_height

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for decade in range(x_low, x_high + 1):
        x = px(10**decade)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_height}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_height + 18}" text-anchor="middle">{_label(10**decade)}</text>')
    for decade in range(y_low, y_high + 1):
        y = py(10**decade)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_width}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_label(10**decade)}</text>')
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="#6b7280"/>'
    )
    parts.append(f'<text x="{LEFT + plot_width / 2}" y="{HEIGHT - 18}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(
        f'<text x="18" y="{TOP + plot_height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {TOP + plot_height / 2})">{escape(y_label)}</text>'
    )
    if linear_guide:
        first_x, first_y = min(next(iter(series.values())))
        last_x = 10**x_high
        last_y = min(first_y * last_x / first_x, 10**y_high)
        last_x = first_x * last_y / first_y
        parts.append(
            f'<line x1="{px(first_x):.1f}" y1="{py(first_y):.1f}" x2="{px(last_x):.1f}" y2="{py(last_y):.1f}" '
            'stroke="#9ca3af" stroke-dasharray="6 4"/>'
        )
        guide_y = TOP + 16 + len(series) * 18
        parts.append(
            f'<line x1="{LEFT + 12}" y1="{guide_y - 3}" x2="{LEFT + 24}" y2="{guide_y - 3}" stroke="#9ca3af" '
            'stroke-dasharray="3 2"/>'
        )
        parts.append(f'<text x="{LEFT + 30}" y="{guide_y + 1}">linear growth (slope 1)</text>')
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coordinates = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(values))
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}"/>' for x, y in values]
        legend_y = TOP + 16 + index * 18
        parts.append(f'<rect x="{LEFT + 12}" y="{legend_y - 9}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{LEFT + 30}" y="{legend_y + 1}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
