"""The public decision: which simple commands an exec argv runs, and whether the denied patterns allow it.

Why this exists: it turns the analysis (:mod:`._analyzer`) and the matching (:mod:`._matching`) into the
answers callers need. The safe-exec guardrail (``kubejit.domain.guardrails``) calls :func:`check_exec` before
each exec, which never raises; :func:`simple_commands` is for tests and tools that want the commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubejit.domain.exec_commands._analyzer import Analyzer, analyze
from kubejit.domain.exec_commands._matching import CommandPattern, first_match, partial_matches
from kubejit.domain.exec_commands._words import INTERACTIVE_REASON, show_command


@dataclass(frozen=True)
class ExecVerdict:
    """The decision for one exec argv, with a reason written for the person who ran it."""

    allowed: bool
    reason: str
    pattern: str | None = None  # the matching pattern's text
    command: tuple[str, ...] | None = None  # the simple command that matched (quotes removed)
    interactive: bool = False  # an interactive shell: what is typed into it later is not checked


class Unresolvable(Exception):
    """The argv runs something whose program (or arguments) cannot be determined before it runs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def simple_commands(argv: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Every simple command that argv would run, outermost first, wrappers included, quotes removed.

    ``["sudo", "sh", "-c", "cd / && rm -rf x"]`` gives ``("sudo", "sh", "-c", "cd / && rm -rf x")``,
    ``("sh", "-c", "cd / && rm -rf x")``, ``("cd", "/")``, ``("rm", "-rf", "x")``. Raises Unresolvable when
    a program cannot be determined statically. An interactive shell is returned as a command, not raised.
    """
    if isinstance(argv, str):
        raise TypeError("argv must be a sequence of arguments, not one string")
    analysis = analyze(argv)
    if analysis.unresolved:
        raise Unresolvable(analysis.unresolved[0])
    return tuple(tuple(word.text for word in command.words) for command in analysis.commands)


def check_exec(argv: Sequence[str], patterns: Sequence[CommandPattern], *, fail_closed: bool = True) -> ExecVerdict:
    """Decide whether an exec argv may run under the denied command ``patterns``. Never raises.

    Denied when a simple command matches a pattern; when something cannot be checked and ``fail_closed``
    (then the reason says what and how to run it instead). Allowed otherwise, with ``interactive=True``
    for an interactive shell.
    """
    if isinstance(argv, str):
        return ExecVerdict(False, "the exec command must be a list of arguments, not one string")
    try:
        analysis = analyze(argv)
        matched = first_match(analysis.commands, patterns)
        if matched is not None:
            pattern, command = matched
            return ExecVerdict(
                False,
                f"the command {show_command(command)} matches the denied exec command pattern {pattern.text!r}",
                pattern=pattern.text,
                command=tuple(word.text for word in command.words),
            )
        doubts = list(analysis.unresolved) + partial_matches(analysis.commands, patterns) if patterns else []
    except Exception as exc:  # a security check returns a verdict, whatever the input
        analysis = Analyzer()
        doubts = [f"it could not be analysed ({type(exc).__name__})"] if patterns else []
    return _verdict(doubts, analysis.interactive, fail_closed=fail_closed, has_patterns=bool(patterns))


def _verdict(doubts: list[str], interactive: list[str], *, fail_closed: bool, has_patterns: bool) -> ExecVerdict:
    """No pattern matched: the verdict from what could not be checked and the interactive shells."""
    if doubts:
        more = f" (and {len(doubts) - 1} more)" if len(doubts) > 1 else ""
        if fail_closed:
            return ExecVerdict(
                False, f"this exec command cannot be checked against the denied commands: {doubts[0]}{more}"
            )
        return ExecVerdict(
            True,
            f"allowed without a complete check (the exec guardrail does not fail closed): {doubts[0]}{more}",
            interactive=bool(interactive),
        )
    if interactive:
        return ExecVerdict(True, f"{INTERACTIVE_REASON} ({interactive[0]})", interactive=True)
    if not has_patterns:
        return ExecVerdict(True, "no exec command patterns are denied")
    return ExecVerdict(True, "no denied exec command pattern matches")
