"""Small server-rendered SVG charts, so the dashboard needs no JavaScript; each has a
``<title>`` and a text summary, so it also reads in a screen reader."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


def _frame(title: str, body: str, y_max: int, x_first: str, x_last: str) -> Markup:
    plot_bottom = HEIGHT - BOTTOM
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{plot_bottom}"/>'
        f'<line class="axis" x1="{LEFT}" y1="{plot_bottom}" x2="{WIDTH - RIGHT}" '
        f'y2="{plot_bottom}"/>'
        f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end">{y_max}</text>'
        f'<text x="{LEFT - 6}" y="{plot_bottom}" text-anchor="end">0</text>'
        f'<text x="{LEFT}" y="{HEIGHT - 8}">{escape(x_first)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{escape(x_last)}</text>'
        f"{body}</svg>"
    )


def _empty(title: str) -> Markup:
    return Markup('<p class="chart-empty">{}: no data yet.</p>').format(title)


def bar_chart(points: Sequence[tuple[str, int]], title: str) -> Markup:
    """Vertical bars, one per point (e.g. completions per day)."""
    if not points:
        return _empty(title)
    y_max = max(value for _, value in points) or 1
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    step = plot_width / len(points)
    bars = []
    for index, (label, value) in enumerate(points):
        height = plot_height * value / y_max
        x = LEFT + index * step + step * 0.1
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_height - height:.1f}" '
            f'width="{max(step * 0.8, 0.5):.1f}" height="{height:.1f}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
    return _frame(title, "".join(bars), y_max, points[0][0], points[-1][0])


def step_chart(points: Sequence[tuple[int, int]], title: str, x_label: str) -> Markup:
    """A falling step line (e.g. runs that reached trial n), x from 1 to the last point."""
    if not points:
        return _empty(title)
    x_max = max(points[-1][0], 1)
    y_max = max(value for _, value in points) or 1
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM

    def xy(x: float, y: float) -> str:
        return (f"{LEFT + plot_width * (x - 1) / max(x_max - 1, 1):.1f},"
                f"{TOP + plot_height * (1 - y / y_max):.1f}")

    # runs reaching trial n equal the value of the first point with x >= n: a falling step
    coordinates = [xy(1, points[0][1])]
    for index, (x, y) in enumerate(points):
        coordinates.append(xy(x, y))
        if index + 1 < len(points):
            coordinates.append(xy(x, points[index + 1][1]))
    path = f'<polyline class="line" points="{" ".join(coordinates)}"/>'
    return _frame(title, path, y_max, f"{x_label} 1", f"{x_label} {x_max}")
