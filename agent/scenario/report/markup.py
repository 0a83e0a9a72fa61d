"""The HTML report's building blocks, shared by its sections."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["DASH", "anchor", "badge", "section", "table", "verdict"]

DASH = "&ndash;"
"""What a cell shows when nothing was measured."""


def section(title: str, body: str, ident: str | None = None) -> str:
    at = f' id="{ident}"' if ident else ""
    return f"<section{at}><h2>{escape(title)}</h2>\n{body}\n</section>"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: set[int],
    css_class: str | None = None,
    row_classes: Sequence[str | None] = (),
) -> str:
    """Cells are markup (escape text before); `numeric` columns align right; a row's class
    (`row_classes`, by position) marks it."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    lines = []
    for number, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        marked = row_classes[number] if number < len(row_classes) else None
        lines.append(f'<tr class="{marked}">{cells}</tr>' if marked else f"<tr>{cells}</tr>")
    at = f' class="{css_class}"' if css_class else ""
    return f"<table{at}><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def badge(text: str, css_class: str) -> str:
    return f'<span class="badge {css_class}">{escape(text)}</span>'


def verdict(passed: bool) -> str:
    return badge("PASS", "pass") if passed else badge("FAIL", "fail")


def anchor(participant: str) -> str:
    """The id of a participant's section, safe in a URL fragment."""
    return "p-" + re.sub(r"[^A-Za-z0-9_.-]", "_", participant)
