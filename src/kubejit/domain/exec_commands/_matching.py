"""Denied command patterns: how a policy string is parsed, and when a simple command matches it.

Why this exists: ``"rm -rf"`` must match ``rm -fr``, ``rm -r -f``, ``/bin/rm --recursive --force`` and
``rm --rec -f``, but not ``rm -r``. :func:`parse_pattern` turns a policy string into a
:class:`CommandPattern` of canonical tokens (it is called when the policy is loaded); :func:`first_match` and
:func:`partial_matches` compare the analysed commands with the patterns for the check (:mod:`._check`).
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from kubejit.domain.errors import InvalidInput
from kubejit.domain.exec_commands._words import SimpleCommand, basename, show_command


@dataclass(frozen=True)
class CommandPattern:
    """A denied command, parsed from a policy string such as ``"rm -rf"`` or ``"mkfs"``."""

    program: str  # "rm"
    args: tuple[str, ...]  # ("-r", "-f"): short-option clusters expanded, known long options canonical
    text: str  # the original string, for messages


def parse_pattern(text: str) -> CommandPattern:
    """Parse one ``denyCommands`` entry (``"rm -rf"``, ``"mkfs"``, ``"systemctl reboot"``).

    Raises InvalidInput when the pattern is empty, cannot be split, or does not start with a program name.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput('exec command pattern is empty: write a program name and optional arguments, e.g. "rm -rf"')
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(f"exec command pattern {text!r} cannot be parsed ({exc}): check its quotes") from exc
    if not parts:
        raise InvalidInput(f'exec command pattern {text!r} has no program name: write e.g. "rm -rf"')
    program = parts[0].rsplit("/", 1)[-1]
    if not program or program.startswith("-") or "=" in program or any(char in program for char in "*?[]{}$`\\"):
        raise InvalidInput(
            f"exec command pattern {text!r} must start with a plain program name (like rm or mkfs), not {parts[0]!r}"
        )
    args: list[str] = []
    for arg in parts[1:]:
        for token in _pattern_tokens(program, arg):
            if token not in args:
                args.append(token)
    return CommandPattern(program=program, args=tuple(args), text=text)


@dataclass(frozen=True)
class _OptionTable:
    """The option equivalents of one program, so that patterns and commands compare canonical tokens."""

    long: Mapping[str, str]  # long option name -> canonical token
    alias: Mapping[str, str]  # short option letter -> canonical letter


_OPTION_TABLES: dict[str, _OptionTable] = {
    "rm": _OptionTable(
        long={
            "recursive": "-r", "force": "-f", "dir": "-d", "verbose": "-v", "interactive": "--interactive",
            "one-file-system": "--one-file-system", "no-preserve-root": "--no-preserve-root",
            "preserve-root": "--preserve-root",
        },
        alias={"R": "r"},
    ),
    "cp": _OptionTable(
        long={"recursive": "-r", "force": "-f", "archive": "-a", "remove-destination": "--remove-destination"},
        alias={"R": "r"},
    ),
    "mv": _OptionTable(long={"force": "-f"}, alias={}),
    "chmod": _OptionTable(long={"recursive": "-R"}, alias={}),
    "chown": _OptionTable(long={"recursive": "-R"}, alias={}),
    "chgrp": _OptionTable(long={"recursive": "-R"}, alias={}),
    "shred": _OptionTable(long={"remove": "-u", "zero": "-z", "force": "-f", "iterations": "-n"}, alias={}),
    "shutdown": _OptionTable(long={"reboot": "-r", "halt": "-H", "poweroff": "-P"}, alias={}),
    "reboot": _OptionTable(long={"force": "-f", "poweroff": "-p"}, alias={}),
    "halt": _OptionTable(long={"force": "-f", "poweroff": "-p", "reboot": "--reboot"}, alias={}),
    "poweroff": _OptionTable(long={"force": "-f", "halt": "--halt", "reboot": "--reboot"}, alias={}),
    "git": _OptionTable(long={"force": "-f"}, alias={}),
}  # fmt: skip
_SINGLE_DASH_LONG = frozenset({"find"})  # -delete is one option, not -d -e -l -t


def _pattern_tokens(program: str, arg: str) -> list[str]:
    """What a pattern argument requires: one canonical token per option letter or long option."""
    table = _OPTION_TABLES.get(program)
    if arg.startswith("--") and len(arg) > 2:
        name, eq, _ = arg[2:].partition("=")
        if not eq and table and name in table.long:
            return [table.long[name]]
        return [arg]
    if arg.startswith("-") and len(arg) > 1 and program not in _SINGLE_DASH_LONG:
        alias = table.alias if table else {}
        return ["-" + alias.get(letter, letter) for letter in arg[1:]]
    return [arg]


def _argument_tokens(program: str, arg: str) -> set[str]:
    """What a command argument provides (before ``--``)."""
    table = _OPTION_TABLES.get(program)
    tokens = {arg}
    if arg.startswith("--") and len(arg) > 2:
        name = arg[2:].partition("=")[0]
        tokens.add("--" + name)
        if table and name:
            if name in table.long:
                tokens.add(table.long[name])
            else:
                tokens.update(token for long, token in table.long.items() if long.startswith(name))
    elif arg.startswith("-") and len(arg) > 1 and program not in _SINGLE_DASH_LONG:
        alias = table.alias if table else {}
        tokens.update("-" + alias.get(letter, letter) for letter in arg[1:])
    return tokens


class _Match(enum.Enum):
    NO = "no"
    YES = "yes"
    MAYBE = "maybe"  # arguments only known at run time may complete the pattern


def _match(pattern: CommandPattern, command: SimpleCommand, program: str) -> _Match:
    if program != pattern.program and not program.startswith(pattern.program + "."):
        return _Match.NO
    if not pattern.args:
        return _Match.YES
    present: set[str] = set()
    unknown_options = unknown_operands = after = False
    for word in command.words[1:]:
        if after:
            present.add(word.text)
            unknown_operands = unknown_operands or word.unknown
        elif word.unknown:
            unknown_options = True
        elif word.text == "--":
            after = True
        else:
            present |= _argument_tokens(pattern.program, word.text)
    if command.trailing:
        unknown_operands = True
        unknown_options = unknown_options or not after
    missing = [arg for arg in pattern.args if arg not in present]
    if not missing:
        return _Match.YES
    if unknown_options or (unknown_operands and any(not arg.startswith("-") for arg in missing)):
        return _Match.MAYBE
    return _Match.NO


def _matching(
    commands: Sequence[SimpleCommand], patterns: Sequence[CommandPattern], outcome: _Match, *, include_speculative: bool
) -> Iterator[tuple[CommandPattern, SimpleCommand]]:
    """Each (pattern, command) pair that compares as ``outcome``; commands of speculative readings if asked."""
    for command in commands:
        if command.speculative and not include_speculative:
            continue
        program = basename(command.words[0].text)
        for pattern in patterns:
            if _match(pattern, command, program) is outcome:
                yield pattern, command


def first_match(
    commands: Sequence[SimpleCommand], patterns: Sequence[CommandPattern]
) -> tuple[CommandPattern, SimpleCommand] | None:
    """The first command that matches a pattern, with that pattern."""
    return next(_matching(commands, patterns, _Match.YES, include_speculative=True), None)


def partial_matches(commands: Sequence[SimpleCommand], patterns: Sequence[CommandPattern]) -> list[str]:
    """Reasons for the commands whose unknown arguments may complete a pattern."""
    return [
        f"the arguments of {show_command(command)} are only partly known before it runs (variables, "
        f"substitutions, globs or xargs input), so they may complete the denied pattern "
        f"{pattern.text!r}; write them literally (put -- before file names)"
        for pattern, command in _matching(commands, patterns, _Match.MAYBE, include_speculative=False)
    ]
