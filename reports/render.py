"""Jinja2 environment for the report templates (templates/report*.j2, templates/summary*.j2)."""
from __future__ import annotations

import jinja2

from generator.render import TEMPLATES
from reports import charts

TEMPLATES_DIR = TEMPLATES


def number(value: int | float | None) -> str:
    """12345 -> "12,345"; unknown figures print as a dash, never as 0."""
    if value is None:
        return "—"
    return f"{value:,}"


def kib(value: int | None) -> str:
    return "—" if value is None else f"{value / 1024:.1f} KiB"


def signed(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+,}" if isinstance(value, int) else f"{value:+.2f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f} %"


def md_cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def millions(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e6:.2f} M"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # Names are report.html.j2: select by the inner extension.
        autoescape=lambda name: name is not None and ".html" in name,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=number, kib=kib, signed=signed, percent=percent, md=md_cell, millions=millions)
    env.globals.update(bar_chart=charts.bar_chart, stacked_bar=charts.stacked_bar, top_n=charts.top_n, single_series=charts.single_series)
    return env


def render(template: str, **context: object) -> str:
    return _environment().get_template(template).render(**context)
