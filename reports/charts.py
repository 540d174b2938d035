"""Geometry of the inline SVG charts: plain data the templates draw, no SVG text here."""
from __future__ import annotations

import math
from dataclasses import dataclass

# Advance of one character of the charts' monospace label font (12 px x 0.6 em), with a margin.
LABEL_CHAR_PX = 7.4

# Colour-blind safe palette (Okabe-Ito), one colour per series or segment.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    color: str
    series: str


@dataclass(frozen=True)
class Row:
    label: str
    y: float                       # text baseline of the row label


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one row per label, one bar per series in that row."""
    width: int
    height: int
    label_width: int
    rows: tuple[Row, ...]
    bars: tuple[Bar, ...]
    series: tuple[tuple[str, str], ...]   # (name, colour) for the legend
    unit: str


@dataclass(frozen=True)
class Segment:
    label: str
    value: int
    x: float
    width: float
    color: str


@dataclass(frozen=True)
class StackedBar:
    width: int
    height: int
    bar_y: int
    bar_height: int
    segments: tuple[Segment, ...]
    total: int
    unit: str


def bar_chart(
    rows: list[tuple[str, tuple[int, ...]]],
    series: tuple[str, ...],
    unit: str,
    width: int = 760,
    label_width: int | None = None,
    bar_height: int = 14,
    gap: int = 8,
) -> BarChart:
    """rows: (label, one value per series); bar lengths share one scale across all series.

    Without a label_width the label column fits the longest label: labels are drawn in a 12 px
    monospace font (class "label" in report_macros.html.j2), whose advance is 0.6 em = 7.2 px in
    DejaVu Sans Mono, Liberation Mono and the browsers' default monospace, so the width is known
    without measuring text; the chart widens so the bars keep at least 300 px.
    """
    value_space = 90   # room right of the longest bar for its printed value
    if label_width is None:
        label_width = max(120, math.ceil(LABEL_CHAR_PX * max((len(label) for label, _ in rows), default=0)) + 16)
        width = max(width, label_width + value_space + 300)
    plot_width = width - label_width - value_space
    biggest = max((v for _, values in rows for v in values), default=0) or 1
    row_height = bar_height * len(series) + gap
    top = 24 if len(series) > 1 else 4   # legend line for multi-series charts
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    chart_rows: list[Row] = []
    bars: list[Bar] = []
    for index, (label, values) in enumerate(rows):
        row_top = top + index * row_height
        chart_rows.append(Row(label=label, y=row_top + bar_height * len(series) / 2 + 4))
        for position, (name, value) in enumerate(zip(series, values)):
            bars.append(Bar(
                label=label,
                value=value,
                x=label_width,
                y=row_top + position * bar_height,
                width=max(plot_width * value / biggest, 1 if value else 0),
                height=bar_height - 2,
                color=colors[name],
                series=name,
            ))
    return BarChart(
        width=width,
        height=top + len(rows) * row_height + 4,
        label_width=label_width,
        rows=tuple(chart_rows),
        bars=tuple(bars),
        series=tuple(colors.items()),
        unit=unit,
    )


def stacked_bar(parts: list[tuple[str, int]], unit: str, width: int = 760, bar_height: int = 28) -> StackedBar:
    total = sum(value for _, value in parts)
    scale = width / total if total else 0
    segments: list[Segment] = []
    x = 0.0
    for index, (label, value) in enumerate(parts):
        segments.append(Segment(label=label, value=value, x=x, width=value * scale, color=PALETTE[index % len(PALETTE)]))
        x += value * scale
    return StackedBar(width=width, height=bar_height + 30, bar_y=0, bar_height=bar_height,
                      segments=tuple(segments), total=total, unit=unit)


def top_n(items: list[tuple[str, int]], n: int, rest_label: str = "{count} more") -> list[tuple[str, int]]:
    """The n largest items, and the rest folded into one entry so the chart still adds up."""
    ordered = sorted(items, key=lambda item: (-item[1], item[0]))
    if len(ordered) <= n:
        return ordered
    head, tail = ordered[:n], ordered[n:]
    return head + [(rest_label.format(count=len(tail)), sum(v for _, v in tail))]


def single_series(items: list, label_key: str = "state", value_key: str = "instructions") -> list[tuple[str, tuple[int]]]:
    """Rows for a one-series bar_chart from (label, value) pairs or from dicts (e.g. handshake states)."""
    rows: list[tuple[str, tuple[int]]] = []
    for item in items:
        label, value = (item[label_key], item[value_key]) if isinstance(item, dict) else item
        rows.append((str(label), (int(value),)))
    return rows
