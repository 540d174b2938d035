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


_MD_SPECIAL = "\\`*_{}[]()<>#+!|~"


def md_text(value: object) -> str:
    """Text from outside (a server's answer, an error message, a module name) as literal
    Markdown prose: every character Markdown or a table cell would act on is backslash-escaped,
    so it cannot open a link, an image, emphasis or a code span."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def code_span(value: object) -> str:
    """A Markdown code span holding `value` literally: the fence is one backtick longer than
    the longest run inside it, padded when the text starts or ends with one; a table cell's
    pipe is escaped (GitHub reads \\| inside a code span in a table as |)."""
    text = str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    longest = run = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


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
    env.filters.update(number=number, kib=kib, signed=signed, percent=percent, md=md_cell, millions=millions,
                       mdtext=md_text, code=code_span)
    env.globals.update(bar_chart=charts.bar_chart, stacked_bar=charts.stacked_bar, top_n=charts.top_n, single_series=charts.single_series)
    return env


def render(template: str, **context: object) -> str:
    return _environment().get_template(template).render(**context)
