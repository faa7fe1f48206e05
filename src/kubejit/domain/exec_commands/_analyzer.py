"""The analysis of one exec argv: every simple command it would run, and why it cannot be checked.

Why this exists: it is the hub between the shell reader and the program handlers. :func:`analyze` starts with
the argv as one command; :meth:`Analyzer.command` records each simple command and hands it to the handler
for its program (:mod:`._handlers`), which calls back here for the command a wrapper runs, for shell text
(parsed by :mod:`._parser`) and for doubts. The public check (:mod:`._check`) calls :func:`analyze`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kubejit.domain.exec_commands._environment import check_assignment
from kubejit.domain.exec_commands._handlers import handler_for
from kubejit.domain.exec_commands._parser import ShellParser
from kubejit.domain.exec_commands._words import (
    MAX_ARGV_BYTES,
    MAX_ARGV_WORDS,
    MAX_COMMANDS,
    MAX_STEPS,
    MAX_SUFFIXES,
    RESERVED_WORDS,
    AnalysisAborted,
    Context,
    SimpleCommand,
    Word,
    argv_word,
    basename,
)


class Analyzer:
    """Collects the simple commands of one argv, the reasons it cannot be checked, and interactive shells."""

    def __init__(self) -> None:
        self.commands: list[SimpleCommand] = []
        self.unresolved: list[str] = []
        self.interactive: list[str] = []
        self.budget = MAX_COMMANDS
        self.steps = MAX_STEPS
        self.scanned: set[str] = set()

    def spend(self, steps: int) -> None:
        """Charge work to the budget of :data:`MAX_STEPS`; the analysis stops when it is used up."""
        self.steps -= steps
        if self.steps < 0:
            raise AnalysisAborted(
                f"it takes more than the {MAX_STEPS} analysis steps that one exec command may use (long or deeply "
                "nested shell text, or text read again and again); split it into simpler exec commands"
            )

    def doubt(self, ctx: Context, reason: str) -> None:
        """Something cannot be checked (ignored in a speculative reading)."""
        if not ctx.speculative and reason not in self.unresolved:
            self.unresolved.append(reason)

    def doubt_unknown_arguments(self, ctx: Context, what: str, word: Word) -> None:
        """Arguments that decide what runs (``what``: "the options of sh") are only known at run time."""
        self.doubt(ctx, f"{what} are only known at run time ({word.text!r}); write them literally")

    def stdin_shell(self, ctx: Context, what: str) -> None:
        """A shell or interpreter that reads its commands from stdin."""
        if ctx.fed:
            self.doubt(
                ctx,
                f"{what} reads its commands from a pipe, redirect or here-document, which is not visible; "
                "pass shell commands as sh -c '...' instead",
            )
        elif not ctx.speculative:
            self.interactive.append(what)

    def command(self, words: Sequence[Word], ctx: Context, trailing: bool = False) -> None:
        """One simple command (words after expansion syntax was recognized), possibly a wrapper."""
        self.budget -= 1
        if self.budget < 0:
            raise AnalysisAborted(
                f"it expands to more than {MAX_COMMANDS} commands; split it into simpler exec commands"
            )
        self.spend(len(words) + 1)
        start = 0
        while start < len(words) and (
            words[start].assign or (not words[start].quoted and words[start].text in RESERVED_WORDS)
        ):
            start += 1
        for word in words[:start]:
            if word.assign:
                check_assignment(self, word, ctx)  # PS4=..., BASH_ENV=...: the environment may carry code
        if start == len(words):
            return
        command_words = tuple(words[start:])
        program = command_words[0]
        if program.expands:
            self.doubt(
                ctx,
                f"the program name {program.text!r} contains {_expansion_kind(program)}, so it is only known at "
                "run time; write the program name literally",
            )
            return
        self.commands.append(SimpleCommand(command_words, trailing, ctx.speculative))
        name = basename(program.text)
        handler = handler_for(name)
        if handler is not None:
            handler(self, name, command_words, ctx, trailing)

    def inner(self, words: Sequence[Word], ctx: Context, trailing: bool, who: str) -> None:
        """The command a wrapper runs."""
        if words:
            self.command(words, ctx.wrapped(), trailing)
        elif trailing:
            self.doubt(ctx, f"the command that {who} runs comes from its input, so it is only known at run time")

    def suffixes(self, words: Sequence[Word], start: int, ctx: Context, trailing: bool) -> None:
        """Where the command starts is not known: try every operand position."""
        tried = 0
        for index in range(start, len(words)):
            if words[index].text.startswith("-") and not words[index].unknown:
                continue
            tried += 1
            if tried > MAX_SUFFIXES:
                raise AnalysisAborted(f"{basename(words[0].text)} has too many arguments to find its command in")
            self.command(words[index:], ctx.wrapped(), trailing)

    def shell_text(self, text: str, ctx: Context) -> None:
        """Parse ``text`` as POSIX shell code; ``ctx`` is already one level deeper."""
        self.spend(len(text))
        fed = ctx.fed or "|" in text or "<" in text
        ShellParser(self, text).run(0, replace(ctx, fed=fed) if fed != ctx.fed else ctx, until_paren=False)

    def expanded_text(self, text: str, ctx: Context) -> None:
        """Text that is expanded like a double-quoted string (a prompt, BASH_ENV): its substitutions run.

        ``ctx`` is already one level deeper.
        """
        self.spend(len(text))
        ShellParser(self, text).scan_substitutions(0, len(text), ctx, heredoc=True)

    def code_word(self, word: Word | None, ctx: Context, who: str) -> None:
        """A word that a program runs as shell code (eval, trap, su -c, flock -c, ...)."""
        if word is None:
            return
        if word.expands:
            self.doubt(
                ctx,
                f"{who} runs shell text that is only known at run time ({word.text!r}); write the commands literally",
            )
            return
        self.shell_text(word.text, ctx.deeper())

    def speculate(self, text: str, ctx: Context) -> None:
        """Text that only might be run as shell code: commands found count, doubts do not."""
        if text in self.scanned:
            return
        self.scanned.add(text)
        self.spend(len(text))
        ShellParser(self, text).run(0, replace(ctx.deeper(), speculative=True), until_paren=False)


def _expansion_kind(program: Word) -> str:
    if program.dynamic:
        return "a variable, command substitution or arithmetic"
    if program.glob:
        return "a glob pattern"
    return "a brace expansion"


def analyze(argv: Sequence[str]) -> Analyzer:
    """The analysis of one exec argv; limits it reaches are recorded as unresolved, never raised."""
    analysis = Analyzer()
    too_big = _oversized(argv)
    if too_big is not None:
        analysis.unresolved.append(too_big)
        return analysis
    if not argv:
        return analysis
    try:
        analysis.command(tuple(argv_word(str(arg)) for arg in argv), Context())
    except AnalysisAborted as exc:
        analysis.unresolved.append(exc.reason)
    return analysis


def _oversized(argv: Sequence[str]) -> str | None:
    """Why ``argv`` is too big to be analysed (:data:`MAX_ARGV_WORDS`, :data:`MAX_ARGV_BYTES`), or None."""
    advice = "put long scripts in a file in the image, or split the work into several exec commands"
    if len(argv) > MAX_ARGV_WORDS:
        return f"it has {len(argv)} arguments, more than the {MAX_ARGV_WORDS} that are checked; {advice}"
    texts = [str(arg) for arg in argv]
    size = sum(len(text) for text in texts) + len(texts)  # a character is at least one byte
    if size <= MAX_ARGV_BYTES // 4:
        return None  # even at four bytes a character it fits: the common case needs no encoding
    if size <= MAX_ARGV_BYTES:
        size = sum(len(text.encode("utf-8", "surrogatepass")) for text in texts) + len(texts)
    if size > MAX_ARGV_BYTES:
        return (
            f"it is {size} bytes long (UTF-8, each argument with its terminating NUL), more than the "
            f"{MAX_ARGV_BYTES} that are checked; {advice}"
        )
    return None
