"""The dashboard's SVG charts: 1-2-5 ticks, time ticks, axis titles, empty data, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from experiment_host.researcher import charts
from experiment_host.researcher.charts import Progress

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)


def parsed(markup: str) -> ElementTree.Element:
    """The chart's svg element (the markup must be well-formed XML)."""
    return ElementTree.fromstring(markup[:markup.index("</svg>") + len("</svg>")])


def texts(svg: ElementTree.Element, css_class: str) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text") if css_class in t.get("class", "")]


@pytest.mark.parametrize("top, ticks", [
    (0, [0, 1]), (1, [0, 1]), (3, [0, 1, 2, 3]), (5, [0, 1, 2, 3, 4, 5]),
    (6, [0, 2, 4, 6]), (9, [0, 2, 4, 6, 8, 10]), (17, [0, 5, 10, 15, 20]),
    (100, [0, 20, 40, 60, 80, 100]), (101, [0, 50, 100, 150]),
    (4321, [0, 1000, 2000, 3000, 4000, 5000]),
])
def test_nice_ticks_are_round_one_two_five_steps(top, ticks):
    assert charts.nice_ticks(top) == ticks


def test_tick_every_keeps_the_ticks_few():
    assert charts.tick_every(5, charts.HOUR_STEPS) == 1
    assert charts.tick_every(73, charts.HOUR_STEPS) == 24
    assert charts.tick_every(30, charts.DAY_STEPS) == 7
    assert charts.tick_every(5000, charts.DAY_STEPS) == 5000 // 6 + 1  # past the table


def test_cumulative_chart_hourly_with_target():
    bins = [(T0 + timedelta(hours=h), min(h, 4)) for h in range(30)]
    markup = charts.cumulative_chart(bins, True, 10, "Done over time")
    svg = parsed(markup)
    assert svg.find(f"{SVG}title").text == "Done over time"
    assert texts(svg, "y-tick") == ["0", "2", "4", "6", "8", "10"]  # reaches the target
    assert texts(svg, "x-tick") == ["May 1 00:00", "06:00", "12:00", "18:00", "May 2 00:00"]
    assert texts(svg, "x-title") == ["time (UTC, per hour)"]
    assert texts(svg, "y-title") == ["runs completed (total)"]
    assert texts(svg, "target-label") == ["target 10"]
    assert len(list(svg.iter(f"{SVG}polyline"))) == 1
    summary = re.search(r'<p class="chart-summary">(.*?)</p>', markup).group(1)
    assert summary.startswith(
        "4 runs reached completion by May 2 05:00 UTC, against a target of 10")


def test_cumulative_chart_daily_without_target():
    bins = [(T0 + timedelta(days=d), d) for d in range(40)]
    svg = parsed(charts.cumulative_chart(bins, False, None, "t"))
    assert texts(svg, "x-tick") == ["May 1", "May 8", "May 15", "May 22", "May 29", "Jun 5"]
    assert texts(svg, "x-title") == ["time (UTC, per day)"]
    assert not texts(svg, "target-label")


def test_charts_say_no_data_yet():
    assert "no data yet" in charts.cumulative_chart([], True, 5, "Done")
    assert "no data yet" in charts.cumulative_chart([(T0, 0)], True, 5, "Done")
    assert "no data yet" in charts.progress_bars([], "Bars")
    assert "no data yet" in charts.reached_chart([], "Reached", "trial")
    assert "&lt;x&gt;" in charts.reached_chart([], "<x>", "trial")


def test_single_bin_shows_a_point():
    markup = charts.cumulative_chart([(T0, 1)], True, None, "t")
    assert len(list(parsed(markup).iter(f"{SVG}circle"))) == 1
    assert "1 run reached completion by May 1 00:00 UTC, no target set" in markup


def test_progress_bars_label_counts_and_quotas():
    rows = [Progress("A", 2, 1, 3), Progress("<B&>", 4, 0, None)]
    markup = charts.progress_bars(rows, "Conditions & quotas")
    svg = parsed(markup)  # well-formed: the odd name is escaped
    assert texts(svg, "bar-label") == ["A: 2 of 3 completed, 1 in progress",
                                       "<B&>: 4 (no quota) completed, 0 in progress"]
    assert len(list(svg.iter(f"{SVG}rect"))) == 4
    assert len([line for line in svg.iter(f"{SVG}line")
                if line.get("class") == "quota-mark"]) == 1  # only A has a quota
    assert texts(svg, "x-tick") == ["0", "1", "2", "3", "4"]
    assert texts(svg, "x-title") == ["runs"] and texts(svg, "y-title") == ["condition"]
    assert "&lt;B&amp;&gt;" in markup and "Conditions &amp; quotas" in markup


def test_reached_chart_steps_down_with_ticks():
    svg = parsed(charts.reached_chart([(1, 5), (2, 4), (12, 3)], "Reached", "trial"))
    [line] = svg.iter(f"{SVG}polyline")
    assert len(line.get("points").split()) == 6  # a falling step: start, then two per point
    assert texts(svg, "x-tick") == ["1", "5", "10"]
    assert texts(svg, "y-tick") == ["0", "1", "2", "3", "4", "5"]
    assert texts(svg, "x-title") == ["trial"] and texts(svg, "y-title") == ["runs"]
