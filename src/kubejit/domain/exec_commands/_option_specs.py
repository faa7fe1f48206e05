"""getopt-style option tables of wrapper programs, and the parser that reads an argv with them.

Why this exists: to know where ``sudo -u root -- rm -rf /`` or ``timeout -s KILL 5 rm ...`` starts its command,
the options before it must be read the way the program itself reads them (values attached or in the next
word, clusters, abbreviated long options). The wrapper and runner handlers (:mod:`._wrappers`,
:mod:`._code_runners`) describe each program with an :class:`OptionSpec` and call :func:`parse_options`.

The long options are written compactly with :func:`long_options`: ``"user:u= login:i shell:s?"`` means
``--user VALUE`` (key ``u``), the flag ``--login`` (key ``i``) and ``--shell[=VALUE]`` (key ``s``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubejit.domain.exec_commands._words import Word

FLAG, VALUE, OPTIONAL_VALUE = 0, 1, 2
"""What a long option takes: nothing, a value (``=VALUE`` or the next word), or only an attached ``=VALUE``."""

HELP_KEYS = frozenset({"help", "version"})
"""The keys of ``--help`` and ``--version``, which every program knows; after them nothing is run."""
_HELP_OPTIONS = {"help": ("help", FLAG), "version": ("version", FLAG)}

ParsedOptions = list[tuple[str, Word | None]]
"""The options found, in order: (key, value or None)."""


@dataclass(frozen=True)
class OptionSpec:
    """getopt-style options of one program."""

    short_val: str = ""  # take a value: attached or the next word
    short_opt: str = ""  # take a value only when attached
    short_flag: str = ""
    long: Mapping[str, tuple[str, int]] | None = None  # name -> (key, FLAG | VALUE | OPTIONAL_VALUE)
    numeric: bool = False  # -5 is an option (nice)


def long_options(spec: str) -> dict[str, tuple[str, int]]:
    """Long options from ``"name:key"`` (flag), ``"name:key="`` (value) and ``"name:key?"`` (optional =value)."""
    table: dict[str, tuple[str, int]] = {}
    for item in spec.split():
        name, _, key = item.partition(":")
        arity = VALUE if key.endswith("=") else OPTIONAL_VALUE if key.endswith("?") else FLAG
        table[name] = (key.rstrip("=?"), arity)
    return table


def option_keys(seen: ParsedOptions) -> set[str]:
    """The keys of the options found."""
    return {key for key, _ in seen}


def parse_options(words: Sequence[Word], start: int, spec: OptionSpec) -> tuple[int, ParsedOptions, bool]:
    """Options from ``start`` up to the first operand: (operand index, options seen, all were known)."""
    index = start
    seen: ParsedOptions = []
    while index < len(words):
        word = words[index]
        if word.unknown:
            return index, seen, False
        if word.text == "--":
            return index + 1, seen, True
        if len(word.text) < 2 or not word.text.startswith("-"):
            return index, seen, True
        parsed = parse_one_option(words, index, spec)
        if parsed is None:
            return index, seen, False
        index, found = parsed
        seen.extend(found)
    return index, seen, True


def parse_one_option(words: Sequence[Word], index: int, spec: OptionSpec) -> tuple[int, ParsedOptions] | None:
    """Parse the option at ``words[index]``: (next index, what it holds); None when the table does not know it."""
    word = words[index]
    if word.unknown:
        return None
    if word.text.startswith("--"):
        return _long_option(words, index, spec)
    if spec.numeric and word.text[1:].isdigit():
        return index + 1, [("N", Word(word.text[1:]))]
    return _short_options(words, index, spec)


def _long_option(words: Sequence[Word], index: int, spec: OptionSpec) -> tuple[int, ParsedOptions] | None:
    name, eq, value = words[index].text[2:].partition("=")
    hit = _lookup_long(spec, name)
    if hit is None:
        return None
    key, arity = hit
    if eq:
        return index + 1, [(key, Word(value))]
    if arity == VALUE:
        return (index + 2, [(key, words[index + 1])]) if index + 1 < len(words) else (index + 1, [(key, None)])
    return index + 1, [(key, None)]


def _lookup_long(spec: OptionSpec, name: str) -> tuple[str, int] | None:
    """A long option by its name or an unambiguous abbreviation of it."""
    table = {**_HELP_OPTIONS, **(spec.long or {})}
    if name in table:
        return table[name]
    hits = {table[known] for known in table if name and known.startswith(name)}
    return hits.pop() if len(hits) == 1 else None


def _short_options(words: Sequence[Word], index: int, spec: OptionSpec) -> tuple[int, ParsedOptions] | None:
    """A cluster of short options such as ``-xvf FILE``; a letter that takes a value ends it."""
    text = words[index].text
    seen: ParsedOptions = []
    for pos in range(1, len(text)):
        letter = text[pos]
        attached = text[pos + 1 :]
        if letter in spec.short_val:
            if attached:
                seen.append((letter, Word(attached)))
                return index + 1, seen
            if index + 1 < len(words):
                seen.append((letter, words[index + 1]))
                return index + 2, seen
            seen.append((letter, None))
            return index + 1, seen
        if letter in spec.short_opt:
            seen.append((letter, Word(attached) if attached else None))
            return index + 1, seen
        if letter not in spec.short_flag:
            return None
        seen.append((letter, None))
    return index + 1, seen
