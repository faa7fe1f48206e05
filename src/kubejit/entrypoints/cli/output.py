"""The ``-o/--output`` option shared by every command that prints data: ``text`` for people, ``json`` for
machines (DESIGN.md section 4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

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
