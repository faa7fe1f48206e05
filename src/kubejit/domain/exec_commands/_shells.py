"""Shells as programs: ``sh -c STRING`` is parsed, ``sh FILE`` is opaque, a bare ``sh`` is interactive.

Why this exists: a shell given ``-c`` runs its string as code, which the analysis parses (:mod:`._parser`);
a shell given a file runs a script that cannot be seen; a shell with neither reads the terminal (interactive,
allowed with a note) or a pipe (a doubt). Non-POSIX shells (fish, csh, pwsh, ...) are not parsed. The handler
registry (:mod:`._handlers`) maps the shell names to :func:`posix_shell` and :func:`other_shell`; su/runuser
(:mod:`._code_runners`) use :data:`POSIX_SHELLS` to judge ``su -s SHELL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands._program_names import program_family
from kubejit.domain.exec_commands._stdin_paths import STDIN, descriptor_of
from kubejit.domain.exec_commands._words import Context, Word

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer

POSIX_SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ash", "ksh", "ksh93", "mksh", "pdksh", "oksh", "lksh", "loksh", "yash",
     "posh", "hush", "rbash", "bosh", "osh"}
)  # fmt: skip
OTHER_SHELLS = frozenset(
    {"fish", "csh", "tcsh", "rc", "es", "nu", "elvish", "xonsh", "pwsh", "powershell", "ion", "murex", "ysh"}
)
_LONG_WITH_VALUE = ("--rcfile", "--init-file")


def is_posix_shell(name: str) -> bool:
    """Whether a program basename is a POSIX-family shell, versions and build suffixes included (bash-static)."""
    return name in POSIX_SHELLS or program_family(name) in POSIX_SHELLS


@dataclass(frozen=True)
class _ShellOptions:
    """What the options of a shell say about where its commands come from."""

    operands_at: int  # where the operands (the -c string, or the script file) start
    command_string: bool = False  # -c
    read_stdin: bool = False  # -s
    unknown: Word | None = None  # an option only known at run time: nothing else is known


def posix_shell(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """sh [options] [-c STRING [NAME [ARG...]] | -s [ARG...] | FILE [ARG...]]."""
    options = _read_shell_options(words)
    if options.unknown is not None:
        analysis.doubt_unknown_arguments(ctx, f"the options of {name}", options.unknown)
        return
    operands = words[options.operands_at :]
    if options.command_string:
        if operands:
            analysis.code_word(operands[0], ctx, f"{name} -c")
        elif trailing:
            analysis.doubt(
                ctx, f"the command string of {name} -c comes from its input, so it is only known at run time"
            )
        return
    if operands and not options.read_stdin and _reads_stdin(operands[0]):
        analysis.stdin_shell(ctx, f"{name} {operands[0].text}")
    elif operands and not options.read_stdin:
        analysis.doubt(
            ctx,
            f"`{name} {operands[0].text}` runs a shell script whose content cannot be inspected; "
            f"pass the commands with {name} -c '...' instead",
        )
    elif trailing and not options.read_stdin:
        analysis.doubt(ctx, f"{name} runs a script named by its input, whose content cannot be inspected")
    else:
        analysis.stdin_shell(ctx, name)


def _reads_stdin(script: Word) -> bool:
    """``sh /dev/stdin``, ``bash /proc/self/fd/0``: the script is the standard input, as with ``sh -s``."""
    return not script.expands and descriptor_of(script.text) == STDIN


def _read_shell_options(words: tuple[Word, ...]) -> _ShellOptions:
    index = 1
    command_string = read_stdin = False
    while index < len(words):
        word = words[index]
        arg = word.text
        if word.unknown:
            return _ShellOptions(index, command_string, read_stdin, unknown=word)
        if arg in ("--", "-"):
            index += 1
            break
        if arg.startswith("--"):
            index += 2 if arg in _LONG_WITH_VALUE else 1
            continue
        if len(arg) < 2 or arg[0] not in "-+":
            break
        has_c, has_s, values = _option_cluster(arg)
        command_string, read_stdin = command_string or has_c, read_stdin or has_s
        index += 1 + values
    return _ShellOptions(index, command_string, read_stdin)


def _option_cluster(arg: str) -> tuple[bool, bool, int]:
    """``-ec``, ``-lc``, ``-o NAME``, ``+O NAME``: whether it holds -c, whether -s, how many values follow it."""
    dash = arg[0] == "-"
    letters = arg[1:]
    return dash and "c" in letters, dash and "s" in letters, sum(1 for letter in letters if letter in "oO")


def other_shell(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """fish, csh, pwsh, ...: their languages are not parsed."""
    for word in words[1:]:
        arg = word.text
        if word.unknown or not arg.startswith("-") or "c" in arg.lower():
            analysis.doubt(
                ctx,
                f"{name} runs code in its own language, which the command patterns cannot see into; "
                "use sh -c '...' instead",
            )
            return
    if trailing:
        analysis.inner((), ctx, trailing, name)
    else:
        analysis.stdin_shell(ctx, name)
