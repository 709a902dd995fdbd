"""The server-drawn charts: bars in proportion, every label escaped."""

import re

from monitor.charts import bar_chart


def test_bars_are_in_proportion_and_labels_are_escaped():
    svg = bar_chart(["甲<script>", "乙"], [("户数", [4, 2])])
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', svg)]
    assert len(heights) == 2 and abs(heights[0] - 2 * heights[1]) < 0.2
    assert "<script>" not in svg and "甲&lt;script&gt;" in svg


def test_an_empty_chart_still_draws_its_axis():
    svg = bar_chart(["1月", "2月"], [("新识别", [0, 0]), ("风险消除", [0, 0])])
    assert svg.startswith("<svg") and svg.count("<rect") == 4
