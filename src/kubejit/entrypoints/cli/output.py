"""How commands print: the ``-o/--output`` option shared by every command that prints data (``text`` for people,
``json`` for machines, DESIGN.md section 4) and the tables of ``kubejit list`` and ``kubejit audit``.

JSON has one shape everywhere: a command about one object prints that object, a list prints a JSON array, and the
audit trail (a stream of events you page through) prints JSON lines, one event per line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Sequence
from typing import Annotated, Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubejit.domain.errors import InvalidInput

FORMATS = ("text", "json")

OutputOption = Annotated[str, typer.Option("-o", "--output", help="Output format: text or json.")]


def checked(output: str) -> str:
    if output not in FORMATS:
        raise InvalidInput(f"-o {output!r} is not supported: use -o text or -o json")
    return output


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=False))


def emit(document: Any, output: str, *, text: Callable[[Any], None]) -> None:
    """``document`` as JSON for ``-o json``, otherwise as ``text`` prints it for people."""
    if output == "json":
        print_json(document)
    else:
        text(document)


# ---- tables people copy from ----------------------------------------------------------------------------------------

_GAP = 2  # between two columns (Rich's padding of a box-less table)
_NARROWEST = 12  # an elastic column is not cut below this


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, elastic: Collection[str] = ()) -> None:
    """A table on stdout that never wraps a cell: ids and the other columns stay whole on their line.

    In a terminal (or with COLUMNS set) the ``elastic`` columns (free text: reasons, details) are cut with an
    ellipsis so the table fits; when it still does not fit, the lines are left long rather than split. When stdout
    is not a terminal nothing is cut (Rich would otherwise lay tables out in 80 columns)."""
    probe = Console()
    limit = probe.width if probe.is_terminal or os.environ.get("COLUMNS") else None
    widths = [max([_width(header), *(_width(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    if limit is not None:
        widths = _fitted(widths, [header in elastic for header in headers], limit)
    table = Table(box=None, pad_edge=False, header_style="dim")
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, width=width, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    needed = sum(widths) + _GAP * (len(widths) - 1)
    Console(highlight=False, width=max(needed, limit or 0)).print(table)


def _width(cell: str) -> int:
    return max((cell_len(line) for line in cell.splitlines()), default=0)


def _fitted(widths: list[int], elastic: list[bool], limit: int) -> list[int]:
    """``widths`` with the widest elastic columns narrowed until the table fits in ``limit`` (or they are at
    their narrowest)."""
    widths = list(widths)
    excess = sum(widths) + _GAP * (len(widths) - 1) - limit
    while excess > 0:
        shrinkable = [i for i, e in enumerate(elastic) if e and widths[i] > _NARROWEST]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        cut = min(excess, widths[widest] - _NARROWEST)
        widths[widest] -= cut
        excess -= cut
    return widths
