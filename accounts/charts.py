"""Small server-rendered SVG charts (no JavaScript, nothing from a CDN)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def bar_chart(
    rows: Sequence[tuple[str, int]],
    *,
    title: str,
    width: int = 720,
    bar_height: int = 22,
    label_width: int = 180,
) -> SafeString:
    """A horizontal bar chart; every label and number is escaped."""
    if not rows:
        return format_html('<p class="chart-empty">{}</p>', "Nothing in this period.")
    peak = max((value for _, value in rows), default=0) or 1
    plot = width - label_width - 70
    height = bar_height * len(rows) + 8
    bars = format_html_join(
        "",
        '<g transform="translate(0,{})"><text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>'
        '<rect x="{}" y="2" width="{}" height="{}" rx="3" class="chart-bar"><title>{}: {}</title></rect>'
        '<text x="{}" y="{}" class="chart-value">{}</text></g>',
        (
            (
                index * bar_height,
                label_width - 8,
                bar_height - 7,
                label,
                label_width,
                max(1, round(plot * max(value, 0) / peak)),
                bar_height - 6,
                label,
                value,
                label_width + max(1, round(plot * max(value, 0) / peak)) + 6,
                bar_height - 7,
                value,
            )
            for index, (label, value) in enumerate(rows)
        ),
    )
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>{}</svg>",
        title,
        width,
        height,
        title,
        bars,
    )


def column_chart(
    rows: Sequence[tuple[str, int]], *, title: str, width: int = 720, height: int = 200
) -> SafeString:
    """Vertical columns (e.g. one per day), labelled every few columns."""
    if not rows:
        return format_html('<p class="chart-empty">{}</p>', "Nothing in this period.")
    peak = max((value for _, value in rows), default=0) or 1
    gap = 2
    column = max(2.0, (width - 40) / len(rows) - gap)
    every = max(1, len(rows) // 8)
    parts = []
    for index, (label, value) in enumerate(rows):
        h = round((height - 40) * max(value, 0) / peak)
        x = 30 + index * (column + gap)
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" class="chart-bar">'
                "<title>{}: {}</title></rect>",
                f"{x:.1f}",
                height - 22 - h,
                f"{column:.1f}",
                max(h, 0),
                label,
                value,
            )
        )
        if index % every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" class="chart-label" text-anchor="start">{}</text>',
                    f"{x:.1f}",
                    height - 6,
                    label[5:] if len(label) == 10 else label,
                )
            )
    parts.append(format_html('<text x="0" y="12" class="chart-value">{}</text>', peak))
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        title,
        width,
        height,
        title,
        mark_safe("".join(parts)),  # each part was built with format_html
    )
