"""File operands that are really the standard input, the terminal or another open descriptor.

Why this exists: ``bash /dev/stdin`` and ``python3 /proc/self/fd/0`` read their program from stdin exactly like
``bash -s`` and ``python3 -``: an interactive session (or, when stdin is fed, a script that is not visible),
not a script file in the image. ``python3 /dev/fd/3 3<<EOF`` reads its program from a here-document. The shell
handler (:mod:`._shells`) and the interpreter handler (:mod:`._interpreters`) ask :func:`descriptor_of` what a
script operand names before treating it as a file.
"""

from __future__ import annotations

import posixpath
import re

STDIN = 0
"""The descriptor of standard input (and of the terminal, ``/dev/tty``, which a session reads the same way)."""

_ABSOLUTE = re.compile(
    r"/dev/(?:(?P<stdin>stdin|tty|console|pts/\d+)|fd/(?P<fd>\d+))"
    r"|/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/fd/(?P<procfd>\d+)"
)
_RELATIVE_TAIL = re.compile(r"(?:^|/)(?:(?P<stdin>stdin|tty)|fd/(?P<fd>\d+))$")
"""A relative path that may name a descriptor when the working directory is /dev or /proc/self (unknown here)."""


def descriptor_of(operand: str, *, relative: bool = False) -> int | None:
    """The descriptor a script operand reads (0 for stdin and the terminal), or None for an ordinary file.

    Absolute paths are normalised first (``//dev/./stdin``). With ``relative``, a relative path ending in
    ``stdin`` or ``fd/N`` counts too: callers for which "a file" would mean "allowed" use it, to err
    toward the stricter reading.
    """
    if operand.startswith("/"):
        match = _ABSOLUTE.fullmatch(posixpath.normpath(operand).replace("//", "/", 1))
    elif relative:
        match = _RELATIVE_TAIL.search(posixpath.normpath(operand))
    else:
        return None
    if match is None:
        return None
    if match.group("stdin"):
        return STDIN
    number = next(group for group in match.groups() if group is not None and group.isdigit())
    return int(number)
