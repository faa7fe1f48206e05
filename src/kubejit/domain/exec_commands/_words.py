"""The vocabulary every part of the exec-command analysis shares: words, the reading context, the limits.

Why this exists: the shell lexer produces :class:`Word` values, the analysis turns them into
:class:`SimpleCommand` values, the wrapper and interpreter handlers read them, and the matching compares them
with the denied patterns. They all also pass a :class:`Context` (how deeply nested, how many wrappers, whether
stdin is fed, whether the reading is speculative) and stop with :class:`AnalysisAborted` at a limit. Keeping
these here lets each of those modules depend on this one instead of on each other.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace

MAX_ARGV_BYTES = 16 * 1024
"""Longer argv are not parsed (Unresolvable): UTF-8 bytes of all arguments, each with its terminating NUL."""
MAX_ARGV_WORDS = 2048
"""Argv with more arguments are not parsed: Unresolvable."""
MAX_STEPS = 4 * MAX_ARGV_BYTES
"""The work budget of one analysis: characters read (again) by the shell reader, look-ahead scans, and the
words of every simple command examined. Deterministic, unlike a clock; reaching it is Unresolvable."""
MAX_DEPTH = 8
"""Nesting of shell text inside shell text (``sh -c``, ``$(...)``, backticks, ``eval``, ...)."""
MAX_COMMANDS = 1000
"""Simple commands examined for one argv, wrappers and speculative readings included."""
MAX_WRAPPERS = 32
"""Wrappers around one command (``sudo env nice timeout 5 ...``)."""
MAX_SUFFIXES = 64
"""Candidate command positions tried inside one loosely known wrapper."""
MAX_LEXICAL_NESTING = 32
"""Nesting of ``${...}`` and the quotes inside them."""

INTERACTIVE_REASON = "interactive shell: later keystrokes are not visible"

ASSIGNMENT_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
"""``NAME=``, ``NAME[i]=`` or ``NAME+=`` at the start of a word: a variable assignment."""
RESERVED_WORDS = frozenset({"!", "{", "}", "then", "else", "elif", "if", "while", "until", "do", "done", "fi", "esac"})
"""Shell keywords that may stand before a command (``if rm ...``, ``! rm ...``) without being its program."""


@dataclass(frozen=True, slots=True)
class Word:
    """One word after quote removal; expansions are kept in their source form and flagged."""

    text: str
    dynamic: bool = False  # holds $-expansion, command or arithmetic substitution
    glob: bool = False  # holds an unquoted * ? [...]
    brace: bool = False  # holds an unquoted {a,b} or {1..3}
    quoted: bool = False  # holds quotes or escapes: never a reserved word
    assign: bool = False  # NAME=value
    unknown: bool = False  # as an argument it may become something else, e.g. an option, at run time

    @property
    def expands(self) -> bool:
        """The shell rewrites this word at run time (expansion, glob or braces): its text is not final."""
        return self.dynamic or self.glob or self.brace


def argv_word(text: str) -> Word:
    """One argument of the exec argv as a word: no quoting, but it may still be an assignment."""
    return Word(text, assign=ASSIGNMENT_PREFIX.match(text) is not None)


def joined_word(words: tuple[Word, ...] | list[Word], *, dynamic: bool = False) -> Word:
    """The arguments that a program joins with spaces into one string of shell code (watch, sg, eval)."""
    return Word(" ".join(word.text for word in words), dynamic=dynamic)


class AnalysisAborted(Exception):
    """Stops the whole analysis: the argv cannot be checked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Context:
    """Where in the argv the reader is: passed down to every nested command and shell text."""

    depth: int = 0  # shell text nesting
    chain: int = 0  # wrappers around the current command
    fed: bool = False  # stdin may come from a pipe, redirect or here-document
    speculative: bool = False  # a speculative reading: matches count, doubts do not

    def deeper(self) -> Context:
        """One level of shell text further in (sh -c, $(...), eval); the wrapper count starts again."""
        if self.depth >= MAX_DEPTH:
            raise AnalysisAborted(
                f"shell commands are nested more than {MAX_DEPTH} levels deep (sh -c, $(...), eval, ...); "
                "run them with less nesting"
            )
        return replace(self, depth=self.depth + 1, chain=0)

    def wrapped(self) -> Context:
        """The command that a wrapper runs."""
        if self.chain >= MAX_WRAPPERS:
            raise AnalysisAborted(f"more than {MAX_WRAPPERS} wrapper programs around one command")
        return replace(self, chain=self.chain + 1)


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One program with its arguments that the argv would run."""

    words: tuple[Word, ...]
    trailing: bool  # unknown arguments are appended (xargs)
    speculative: bool  # found in a speculative reading


def basename(program: str) -> str:
    """The program name that patterns compare: ``/bin/rm`` and ``./rm`` are ``rm``."""
    return program.rsplit("/", 1)[-1].lstrip("=")  # zsh: =rm is the path of rm


def show_command(command: SimpleCommand) -> str:
    """A command for a message: shell-quoted, cut at 200 characters."""
    shown = shlex.join(word.text for word in command.words)
    return repr(shown if len(shown) <= 200 else shown[:197] + "...")
