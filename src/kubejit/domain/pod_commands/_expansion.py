"""Kubernetes' ``$(VAR)`` expansion of a container's command, args and environment values.

Why this exists: the kubelet rewrites ``$(NAME)`` in ``command``, ``args`` and ``env[].value`` with the value of
``NAME`` from the container's environment before the container starts, so ``command: ["$(X)", "-rf", "/"]`` with
``X=rm`` runs ``rm -rf /``. The extraction (:mod:`._containers`) calls :func:`expand` so that the exec guardrail
checks the command line the container will run, not the text of the manifest. The syntax is the kubelet's own:
``$$`` is a literal ``$``, ``$(NAME)`` is replaced when ``NAME`` is defined and kept as written when it is not,
an unterminated ``$(`` and any other ``$x`` are literal.
"""

from __future__ import annotations

from collections.abc import Callable

_DOLLAR = "$"
_OPEN = "("
_CLOSE = ")"


class UnknownVariable(Exception):
    """``$(NAME)`` refers to a variable whose value the request does not show."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """``text`` with every ``$(NAME)`` replaced by ``lookup(NAME)``; ``None`` means "undefined" (kept as written).

    ``lookup`` raises :class:`UnknownVariable` for a name that may be defined with a value not in the request."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == _DOLLAR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, advance = _reference(text, cursor + 1, lookup)
            out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _reference(text: str, start: int, lookup: Callable[[str], str | None]) -> tuple[str, int]:
    """What the ``$`` before ``text[start]`` stands for, and how many characters after the ``$`` it used."""
    first = text[start]
    if first == _DOLLAR:
        return _DOLLAR, 1
    if first == _OPEN:
        end = text.find(_CLOSE, start + 1)
        if end == -1:
            return _DOLLAR + _OPEN, 1
        name = text[start + 1 : end]
        value = lookup(name)
        return (f"$({name})" if value is None else value), end - start + 1
    return _DOLLAR + first, 1
