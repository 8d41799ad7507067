"""Small server-rendered SVG charts, so the dashboard needs no JavaScript: every chart has
titled axes with ticks (y at 1-2-5 steps, x at round hours or days), a ``<title>`` and a
text summary beside it, so it also reads in a screen reader."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 58, 16, 14, 46
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_TICKS = 6
#: Hours, then days, between two x ticks of a time axis: the first that keeps the ticks few.
HOUR_STEPS = (1, 2, 3, 6, 12, 24)
DAY_STEPS = (1, 2, 7, 14, 28, 56, 91, 182, 364)


def nice_ticks(top: float, max_ticks: int = MAX_TICKS) -> list[int]:
    """Whole-number ticks from 0 at a 1-2-5 step (1, 2, 5, 10, 20, ...) up to at least ``top``."""
    top = max(top, 1)
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            count = -(-int(top) // step)  # ceil
            if count + 1 <= max_ticks:
                return [step * index for index in range(count + 1)]
        magnitude *= 10


def tick_every(bins: int, steps: Sequence[int], max_ticks: int = MAX_TICKS) -> int:
    """Bins between two x ticks: the first of ``steps`` that shows at most ``max_ticks``."""
    for step in steps:
        if bins / step <= max_ticks:
            return step
    return max(steps[-1], -(-bins // max_ticks))


def _x_of(index: float, count: int) -> float:
    return LEFT + PLOT_WIDTH * index / max(count - 1, 1)


def _y_of(value: float, y_top: int) -> float:
    return TOP + PLOT_HEIGHT * (1 - value / y_top)


def _value_ticks(ticks: Sequence[int]) -> list[tuple[float, str]]:
    return [(_y_of(tick, ticks[-1]), str(tick)) for tick in ticks]


def _frame(title: str, summary: str, x_title: str, y_title: str,
           y_ticks: Sequence[tuple[float, str]], x_ticks: Sequence[tuple[float, str]],
           body: str, height: int = HEIGHT) -> Markup:
    """The chart's svg: title, axes with their titles and ticks (at the given positions),
    ``body``; then the text summary."""
    bottom = height - BOTTOM
    middle = TOP + (bottom - TOP) / 2
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>",
    ]
    for y, label in y_ticks:
        parts.append(f'<line class="grid-line" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" '
                     f'y2="{y:.1f}"/><text class="tick y-tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{escape(label)}</text>')
    for x, label in x_ticks:
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" '
                     f'y2="{bottom + 4}"/><text class="tick x-tick" x="{x:.1f}" '
                     f'y="{bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    parts += [
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>',
        f'<text class="axis-title x-title" x="{LEFT + PLOT_WIDTH / 2:.1f}" y="{height - 6}" '
        f'text-anchor="middle">{escape(x_title)}</text>',
        f'<text class="axis-title y-title" x="14" y="{middle:.1f}" '
        f'text-anchor="middle" transform="rotate(-90 14 {middle:.1f})">'
        f"{escape(y_title)}</text>",
        body, "</svg>",
        f'<p class="chart-summary">{escape(summary)}</p>',
    ]
    return Markup("".join(parts))


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _empty(title: str) -> Markup:
    return Markup('<p class="chart-empty">{}: no data yet.</p>').format(title)


def _bin_label(start: datetime, hourly: bool, with_day: bool) -> str:
    if not hourly:
        return f"{start:%b} {start.day}"
    return f"{start:%b} {start.day} {start:%H}:00" if with_day else f"{start:%H}:00"


def cumulative_chart(bins: Sequence[tuple[datetime, int]], hourly: bool, target: int | None,
                     title: str) -> Markup:
    """A rising line of running totals per bin (hour or UTC day), with the target as a
    dashed horizontal line when there is one."""
    if not bins or bins[-1][1] == 0:
        return _empty(title)
    y_ticks = nice_ticks(max(bins[-1][1], target or 0))
    count = len(bins)
    points = " ".join(f"{_x_of(i, count):.1f},{_y_of(total, y_ticks[-1]):.1f}"
                      for i, (_, total) in enumerate(bins))
    body = f'<polyline class="line cumulative" points="{points}"/>'
    if count == 1:
        body += (f'<circle class="point" cx="{_x_of(0, 1):.1f}" '
                 f'cy="{_y_of(bins[0][1], y_ticks[-1]):.1f}" r="3"/>')
    if target:
        y = _y_of(target, y_ticks[-1])
        body += (f'<line class="target-line" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" '
                 f'y2="{y:.1f}"/><text class="target-label" x="{WIDTH - RIGHT - 4}" '
                 f'y="{y - 4:.1f}" text-anchor="end">target {target}</text>')
    every = tick_every(count, HOUR_STEPS if hourly else DAY_STEPS)
    x_ticks = [(_x_of(i, count), _bin_label(bins[i][0], hourly, i == 0 or bins[i][0].hour < every))
               for i in range(0, count, every)]
    unit = "hour" if hourly else "day"
    summary = (f"{_runs(bins[-1][1])} reached completion by {_bin_label(bins[-1][0], hourly, True)}"
               f" UTC" + (f", against a target of {target}" if target else ", no target set")
               + f"; one point per {unit} since {_bin_label(bins[0][0], hourly, True)}.")
    return _frame(title, summary, f"time (UTC, per {unit})", "runs completed (total)",
                  _value_ticks(y_ticks), x_ticks, body)


@dataclass(frozen=True)
class Progress:
    """One bar: a condition's runs that count toward its quota, and those in progress."""

    name: str
    done: int
    in_progress: int
    quota: int | None

    def label(self) -> str:
        of = f" of {self.quota}" if self.quota is not None else " (no quota)"
        return f"{self.name}: {self.done}{of} completed, {self.in_progress} in progress"


def progress_bars(rows: Sequence[Progress], title: str) -> Markup:
    """Horizontal bars per condition: completed, then in progress, against a quota mark."""
    if not rows:
        return _empty(title)
    y_ticks = nice_ticks(max(max(r.done + r.in_progress, r.quota or 0) for r in rows))
    top, row_height = y_ticks[-1], 40.0
    bar = row_height * 0.45

    def x(value: float) -> float:
        return LEFT + PLOT_WIDTH * value / top

    parts = []
    for index, row in enumerate(rows):
        y = TOP + index * row_height + (row_height - bar) / 2 + row_height * 0.25
        parts.append(f'<g class="condition"><title>{escape(row.label())}</title>'
                     f'<text class="bar-label" x="{LEFT + 2}" y="{y - 3:.1f}">'
                     f"{escape(row.label())}</text>"
                     f'<rect class="bar done" x="{LEFT}" y="{y:.1f}" '
                     f'width="{x(row.done) - LEFT:.1f}" height="{bar:.1f}"/>'
                     f'<rect class="bar in-progress" x="{x(row.done):.1f}" y="{y:.1f}" '
                     f'width="{x(row.done + row.in_progress) - x(row.done):.1f}" '
                     f'height="{bar:.1f}"/>')
        if row.quota is not None:
            parts.append(f'<line class="quota-mark" x1="{x(row.quota):.1f}" y1="{y - 2:.1f}" '
                         f'x2="{x(row.quota):.1f}" y2="{y + bar + 2:.1f}"/>')
        parts.append("</g>")
    # The bars run along x, so the value ticks are on x; each bar is labelled by its text.
    return _frame(title, "; ".join(r.label() for r in rows) + ".", "runs", "condition",
                  [], [(x(t), str(t)) for t in y_ticks], "".join(parts),
                  height=int(TOP + BOTTOM + row_height * len(rows)))


def reached_chart(points: Sequence[tuple[int, int]], title: str, x_title: str,
                  unit: str = "trial") -> Markup:
    """A falling step line: runs that reached ``unit`` n, for n from 1 to the last point."""
    if not points:
        return _empty(title)
    x_max = max(points[-1][0], 1)
    y_ticks = nice_ticks(points[0][1])

    def xy(n: float, runs: float) -> str:
        return f"{_x_of(n - 1, x_max):.1f},{_y_of(runs, y_ticks[-1]):.1f}"

    # runs reaching trial n equal the value of the first point with x >= n: a falling step
    coordinates = [xy(1, points[0][1])]
    for index, (n, runs) in enumerate(points):
        coordinates.append(xy(n, runs))
        if index + 1 < len(points):
            coordinates.append(xy(n, points[index + 1][1]))
    body = f'<polyline class="line reached" points="{" ".join(coordinates)}"/>'
    x_ticks = [(_x_of(t - 1, x_max), str(t)) for t in nice_ticks(x_max) if 1 <= t <= x_max]
    if not x_ticks or x_ticks[0][1] != "1":
        x_ticks.insert(0, (_x_of(0, x_max), "1"))
    summary = (f"{_runs(points[0][1])} reached {unit} 1 and {points[-1][1]} reached {unit} "
               f"{points[-1][0]}, the last {unit} any run reached.")
    return _frame(title, summary, x_title, "runs", _value_ticks(y_ticks), x_ticks, body)
