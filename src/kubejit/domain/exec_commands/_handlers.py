"""Which handler looks into a program's arguments for the commands it runs, by program name.

Why this exists: the analysis (:mod:`._analyzer`) records every simple command and then asks
:func:`handler_for` whether the program is one that runs other commands: a wrapper (:mod:`._wrappers`), a
runner of shell text (:mod:`._code_runners`), a shell (:mod:`._shells`) or an interpreter
(:mod:`._interpreters`). Programs without a handler are opaque binaries.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands import _code_runners as runners
from kubejit.domain.exec_commands import _wrappers as wrappers
from kubejit.domain.exec_commands._interpreters import AWKS, INTERPRETER_ALIASES, INTERPRETERS, awk, interpreter
from kubejit.domain.exec_commands._program_names import program_family
from kubejit.domain.exec_commands._shells import OTHER_SHELLS, POSIX_SHELLS, other_shell, posix_shell
from kubejit.domain.exec_commands._words import Context, Word

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer

Handler = Callable[["Analyzer", str, tuple[Word, ...], Context, bool], None]
"""``handler(analysis, program name, the command's words, context, trailing)``: reports what the program runs."""

_HANDLERS: dict[str, Handler] = {
    **{name: partial(wrappers.wrapper, spec=spec) for name, spec in wrappers.WRAPPERS.items()},
    **dict.fromkeys(wrappers.LOOSE_WRAPPERS, wrappers.loose),
    **dict.fromkeys(POSIX_SHELLS, posix_shell),
    **dict.fromkeys(OTHER_SHELLS, other_shell),
    **dict.fromkeys((*INTERPRETERS, *INTERPRETER_ALIASES), interpreter),
    **dict.fromkeys(AWKS, awk),
    "env": wrappers.env,
    "busybox": wrappers.multicall,
    "toybox": wrappers.multicall,
    "coproc": wrappers.coproc,
    "xargs": wrappers.xargs,
    "find": wrappers.find,
    "watch": runners.watch,
    "flock": runners.flock,
    "su": runners.su,
    "runuser": partial(runners.su, runuser=True),
    "script": runners.script,
    "sg": runners.sg,
    "capsh": runners.capsh,
    "eval": runners.eval_,
    "trap": runners.trap,
    "mapfile": runners.mapfile,
    "readarray": runners.mapfile,
    **dict.fromkeys(("export", "declare", "typeset", "local", "readonly"), runners.export),
    "alias": runners.alias,
    "hash": runners.hash_,
    "source": runners.source,
    ".": runners.source,
}


def handler_for(name: str) -> Handler | None:
    """The handler for a program's basename, or None for a program that runs nothing given in its arguments.

    The name is looked up as written, then by its family (``python3.11-dbg`` is python, ``bash-static`` bash).
    Handlers that read a table entry (a wrapper's :class:`~._wrappers.WrapperSpec`, runuser's own form) have it
    bound here, so ``sudo.real`` is read as sudo; the name they are given is the one written, for messages.
    """
    return _HANDLERS.get(name) or _HANDLERS.get(program_family(name))
