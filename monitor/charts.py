"""Small charts drawn on the server as SVG: no script, nothing to download, prints well."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

PALETTE = ["#b3261e", "#1a4f9c", "#c47f00", "#1e6b34"]


def bar_chart(labels: list[str], series: list[tuple[str, list[int]]], height: int = 160) -> str:
    """Grouped bars: one group per label, one bar per series. Returns SVG markup."""
    groups = max(len(labels), 1)
    # A narrow canvas: it scales up to the card, so the labels stay readable on a phone.
    width = 360
    left, bottom, top = 24, 26, 14
    plot_w, plot_h = width - left - 6, height - bottom - top
    peak = max([value for _, values in series for value in values] + [1])
    group_w = plot_w / groups
    bar_w = max(min(group_w * 0.8 / max(len(series), 1), 28), 2)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 6}" y2="{top + plot_h}" '
        'stroke="#d9dee5"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="11" text-anchor="end" '
        f'fill="#6b7785">{peak}</text>',
    ]
    for index, label in enumerate(labels):
        x0 = left + index * group_w + (group_w - bar_w * len(series)) / 2
        for number, (name, values) in enumerate(series):
            value = values[index] if index < len(values) else 0
            bar_h = plot_h * value / peak
            x = x0 + number * bar_w
            y = top + plot_h - bar_h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{bar_h:.1f}" '
                f'fill="{PALETTE[number % len(PALETTE)]}"><title>{escape(label)} '
                f"{escape(name)}：{value}</title></rect>"
            )
            if value and len(labels) <= 6:
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" font-size="12" '
                    f'text-anchor="middle" fill="#1f2933">{value}</text>'
                )
        parts.append(
            f'<text x="{left + index * group_w + group_w / 2:.1f}" y="{height - 10}" '
            f'font-size="{11 if len(labels) <= 6 else 9}" text-anchor="middle" '
            f'fill="#6b7785">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text in it is escaped above


def share_chart(rows: list[tuple[str, int]], whole: int | None = None, unit: str = "户") -> str:
    """Horizontal bars, one per row, each with its count and its share of `whole` (the sum of
    the rows when not given: for risk types, where one household has several, pass the
    households so the shares read as 'of the households'). Returns SVG markup."""
    total = whole if whole is not None else sum(value for _, value in rows)
    peak = max([value for _, value in rows] + [1])
    row_h, label_w, width = 22, 96, 360
    bar_room = width - label_w - 92
    height = row_h * max(len(rows), 1) + 4
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for index, (label, value) in enumerate(rows):
        y = 2 + index * row_h
        bar_w = bar_room * value / peak
        share = f"{value / total:.1%}" if total else "—"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end" '
            f'fill="#1f2933">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w:.1f}" height="{row_h - 8}" '
            f'fill="{PALETTE[1]}"><title>{escape(label)}：{value} {unit}（{share}）</title></rect>'
            f'<text x="{label_w + bar_w + 4:.1f}" y="{y + 15}" font-size="11" '
            f'fill="#6b7785">{value} · {share}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text in it is escaped above
