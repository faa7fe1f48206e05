"""Which programs a ``kubectl exec`` would run, and whether one of them matches a denied command pattern.

Why this exists and who calls it
--------------------------------
The gateway sees the argv of every ``kubectl exec POD -- CMD...`` (the repeated ``command`` query parameters of
a ``pods/exec`` request) before the stream opens. The ``safe-exec`` guardrail (DESIGN.md section 5,
``exec: {denyCommands: ["rm -rf", "mkfs", ...]}``) must refuse command lines that run a denied command.
Looking only at ``argv[0]`` is bypassed with ``sh -c``, ``&&``, ``env`` or ``python -c`` (REFERENCES.md), so this
module works out every *simple command* the argv would run -- through shell strings, wrappers and
substitutions -- and matches each one against the patterns. The guardrail evaluation calls
:func:`parse_pattern` when it loads the policy and :func:`check_exec` before each exec. Pure: no I/O, stdlib.

Patterns and matching
---------------------
A pattern such as ``"rm -rf"`` is a program name and optional arguments (split like a shell would split them).
It matches a simple command when

* the program's basename (``/bin/rm``, ``./rm`` -> ``rm``) equals the pattern's program, or starts with the
  program followed by a dot (``mkfs`` matches ``mkfs.ext4``; ``ddate`` and ``mkfsx`` do not match);
* every pattern argument is present among the command's arguments, in any order. Single-dash arguments are
  short-option clusters on both sides (``-rf`` = ``-fr`` = ``-r -f``), except for programs whose single-dash
  options are long (``find -delete``). A small table gives the equivalents of common destructive commands
  (rm: ``-R`` = ``-r``, ``--recursive`` = ``-r``, ``--force`` = ``-f``; chmod/chown/chgrp ``--recursive``;
  shutdown ``--reboot``...), and long options may be abbreviated as getopt allows (``--rec``). Options count
  wherever they appear before ``--`` (GNU getopt permutes them); after ``--`` arguments are operands only.
  Arguments that are not options (``of=/dev/sda``) must appear literally.
* Patterns name programs, not effects: ``"reboot"`` does not match ``systemctl reboot``, ``halt`` or
  ``init 6``, and ``"mkfs"`` does not match ``mke2fs``; list those as patterns of their own.

If an argument is only known at run time (``$X``, ``"$@"``, ``$(...)``, brace expansion, a glob that may expand
to a file named ``-f``, or the input that ``xargs`` appends) and the literal arguments do not already complete
the pattern, the command *cannot be checked* (see below).

What is looked through
----------------------
* POSIX-family shells (sh, bash, dash, zsh, ash, ksh, mksh, yash, busybox sh, ...) with ``-c STRING`` and any
  other options (``-ec``, ``-lc``, ``--norc -c``, ``-o pipefail -c``). The string is parsed as shell: ``;``
  ``&&`` ``||`` ``|`` ``&`` newlines, ``( )``, ``{ ; }``, ``if/then/while/do/case/for``, functions,
  ``$(...)``, backticks, ``<(...)`` (recursively), quoting and escapes (``"r"m``, ``r\\m``, ``'rm'``,
  ``$'\\x72m'`` are all ``rm``), comments, here-documents (whose unquoted bodies may hold substitutions).
* Wrappers whose command is found by their own option syntax: ``env`` (incl. ``-S``), leading ``VAR=val``,
  ``exec``, ``command``, ``builtin``, ``coproc``, ``time``, ``nice``, ``nohup``, ``timeout``, ``stdbuf``,
  ``ionice``, ``setsid``, ``chroot``, ``taskset``, ``chrt``, ``sudo``, ``doas``, ``su -c``, ``runuser``,
  ``gosu``, ``su-exec``, ``pkexec``, ``nsenter``, ``unshare``, ``busybox``/``toybox`` applets, ``xargs`` (the
  command it runs, with unknown appended arguments), ``find -exec/-execdir/-ok/-okdir``, ``watch`` (its
  command is a ``sh -c`` string unless ``-x``), ``flock FILE CMD`` / ``flock FILE -c STRING``,
  ``script -c``, ``sg``, ``capsh --``, ``eval`` and ``trap`` of literal text, ``mapfile -C``.
* Loosely known wrappers (strace, ltrace, valgrind, prlimit, setpriv, systemd-run, tini, dumb-init, ...): every
  operand position is tried as the start of the command. The same is done when a known wrapper is given an
  option this module does not know.
* ``find -delete`` is *not* treated as ``rm -rf``: a policy that wants to deny it says ``"find -delete"``.
* Text that only *might* be code -- ``$(...)`` or backticks inside single quotes (bash evaluates stored text
  in arithmetic subscripts and prompt expansion), ``((...))``, which dash reads as nested subshells, and the
  inside of ``[[ ... ]]``, where dash (which has no ``[[``) separates commands at ``&&``, ``||`` and
  newlines -- is parsed too; commands found there count, but doubt there does not make the argv
  unresolvable. Wherever the shell's reading is uncertain, the parser errs toward finding more commands.

Cannot be checked (``Unresolvable``; denied when ``fail_closed``, which is the default)
------------------------------------------------------------------------------------------
A program name built at run time (``$X``, ``${X}``, ``$(...)``, globs such as ``/bin/r?``, brace expansion),
``eval`` of non-literal text, ``source``/``.`` of a file, ``sh FILE``, a shell reading its commands from a pipe,
redirect or here-document, ``alias NAME=...`` and ``hash -p`` (they redefine command names), inline code of
other languages (``python -c``, ``perl -e``, ``ruby -e``, ``node -e``, ``php -r``, ``lua -e``, ``vim -c``,
``gdb -ex``, ...; awk programs that call ``system()``, use a pipe ``|`` or an indirect call ``@``), non-POSIX
shells with code (fish, csh, pwsh), nesting deeper than :data:`MAX_DEPTH`, argv longer than
:data:`MAX_ARGV_CHARS`, and command lines that expand to more than :data:`MAX_COMMANDS` commands.
Patterns cannot see inside other languages: a policy that must permit ``python -c`` cannot use ``fail_closed``.
A program or script file run by an interpreter (``python3 manage.py``) is opaque like any binary, and allowed.
Known false alarms, all denied under ``fail_closed``: an awk regular expression with ``|``, ``alias x=...``,
a leading glob such as ``rm -r *`` (write ``./*``) and shell scripts started as ``sh FILE``.
With no patterns there is nothing to check, and nothing is unresolvable.

Interactive shells
------------------
A shell (or interpreter REPL) started with no command and reading the user's terminal -- ``sh``, ``bash -i``,
``/bin/bash``, ``sudo -i``, ``su -``, ``chroot DIR`` -- is allowed with ``interactive=True`` and the reason
:data:`INTERACTIVE_REASON`: its later keystrokes are not visible. The caller decides whether to allow that.

What it deliberately cannot see (for the security docs)
-------------------------------------------------------
A deny-list of command names is a tripwire against accidents and casual misuse, not a sandbox. Not visible:
a renamed or copied binary (``cp /bin/rm /tmp/x; /tmp/x -rf /``, ``PATH`` tricks, symlinks); programs and
scripts already in the image or written by an earlier command (``./cleanup.sh``); commands sent later on
the stdin of an interactive session; code in other languages; programs that run commands given in their
options or input (``sed e``, ``tar --to-command``, ``rsync -e``, ``git -c core.sshCommand``, ``less !``,
``vim :!``, ``tmux``, ``parallel``, ``at``, ``ssh``, zsh glob qualifiers ``*(e:...:)``); shell text assembled
at run time (variables, ``printf`` output fed to ``eval``); ``$SHELL`` pointing at a non-POSIX program for
``flock -c``/``script -c``/``sudo -s``; and option *values* are not normalized (``kill -9`` vs ``kill -s KILL``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from kubejit.domain.errors import InvalidInput

MAX_ARGV_CHARS = 64 * 1024
"""Longer argv (characters of all arguments together) are not parsed: Unresolvable."""
MAX_DEPTH = 8
"""Nesting of shell text inside shell text (``sh -c``, ``$(...)``, backticks, ``eval``, ...)."""
MAX_COMMANDS = 1000
"""Simple commands examined for one argv, wrappers and speculative readings included."""
MAX_WRAPPERS = 32
"""Wrappers around one command (``sudo env nice timeout 5 ...``)."""
MAX_SUFFIXES = 64
"""Candidate command positions tried inside one loosely known wrapper."""
_MAX_LEXICAL = 32
"""Nesting of ``${...}`` and the quotes inside them."""

INTERACTIVE_REASON = "interactive shell: later keystrokes are not visible"


# --------------------------------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class CommandPattern:
    """A denied command, parsed from a policy string such as ``"rm -rf"`` or ``"mkfs"``."""

    program: str  # "rm"
    args: tuple[str, ...]  # ("-r", "-f"): short-option clusters expanded, known long options canonical
    text: str  # the original string, for messages


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
    if not program or program.startswith("-") or "=" in program or any(c in program for c in "*?[]{}$`\\"):
        raise InvalidInput(
            f"exec command pattern {text!r} must start with a plain program name (like rm or mkfs), not {parts[0]!r}"
        )
    args: list[str] = []
    for arg in parts[1:]:
        for token in _pattern_tokens(program, arg):
            if token not in args:
                args.append(token)
    return CommandPattern(program=program, args=tuple(args), text=text)


def simple_commands(argv: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Every simple command that argv would run, outermost first, wrappers included, quotes removed.

    ``["sudo", "sh", "-c", "cd / && rm -rf x"]`` gives ``("sudo", "sh", "-c", "cd / && rm -rf x")``,
    ``("sh", "-c", "cd / && rm -rf x")``, ``("cd", "/")``, ``("rm", "-rf", "x")``. Raises Unresolvable when
    a program cannot be determined statically. An interactive shell is returned as a command, not raised.
    """
    if isinstance(argv, str):
        raise TypeError("argv must be a sequence of arguments, not one string")
    analysis = _analyze(argv)
    if analysis.unresolved:
        raise Unresolvable(analysis.unresolved[0])
    return tuple(tuple(w.text for w in cmd.words) for cmd in analysis.commands)


def check_exec(argv: Sequence[str], patterns: Sequence[CommandPattern], *, fail_closed: bool = True) -> ExecVerdict:
    """Decide whether an exec argv may run under the denied command ``patterns``. Never raises.

    Denied when a simple command matches a pattern; when something cannot be checked and ``fail_closed``
    (then the reason says what and how to run it instead). Allowed otherwise, with ``interactive=True``
    for an interactive shell.
    """
    if isinstance(argv, str):
        return ExecVerdict(False, "the exec command must be a list of arguments, not one string")
    try:
        analysis = _analyze(argv)
        matched = _first_match(analysis, patterns)
        if matched is not None:
            pattern, cmd = matched
            shown = _show(cmd)
            return ExecVerdict(
                False,
                f"the command {shown} matches the denied exec command pattern {pattern.text!r}",
                pattern=pattern.text,
                command=tuple(w.text for w in cmd.words),
            )
        doubts = list(analysis.unresolved) + _partial_matches(analysis, patterns) if patterns else []
    except Exception as exc:  # a security check returns a verdict, whatever the input
        analysis = _Analyzer()
        doubts = [f"it could not be analysed ({type(exc).__name__})"] if patterns else []
    interactive = bool(analysis.interactive)
    if doubts:
        more = f" (and {len(doubts) - 1} more)" if len(doubts) > 1 else ""
        if fail_closed:
            return ExecVerdict(
                False, f"this exec command cannot be checked against the denied commands: {doubts[0]}{more}"
            )
        return ExecVerdict(
            True,
            f"allowed without a complete check (the exec guardrail does not fail closed): {doubts[0]}{more}",
            interactive=interactive,
        )
    if interactive:
        return ExecVerdict(True, f"{INTERACTIVE_REASON} ({analysis.interactive[0]})", interactive=True)
    if not patterns:
        return ExecVerdict(True, "no exec command patterns are denied")
    return ExecVerdict(True, "no denied exec command pattern matches")


# ------------------------------------------------------------------------------------------- words and context


@dataclass(frozen=True, slots=True)
class _Word:
    """One word after quote removal; expansions are kept in their source form and flagged."""

    text: str
    dynamic: bool = False  # holds $-expansion, command or arithmetic substitution
    glob: bool = False  # holds an unquoted * ? [...]
    brace: bool = False  # holds an unquoted {a,b} or {1..3}
    quoted: bool = False  # holds quotes or escapes: never a reserved word
    assign: bool = False  # NAME=value
    unknown: bool = False  # as an argument it may become something else, e.g. an option, at run time


def _argv_word(text: str) -> _Word:
    return _Word(text, assign=_ASSIGNMENT.match(text) is not None)


@dataclass(frozen=True, slots=True)
class _Ctx:
    depth: int = 0  # shell text nesting
    chain: int = 0  # wrappers around the current command
    fed: bool = False  # stdin may come from a pipe, redirect or here-document
    spec: bool = False  # speculative reading: matches count, doubts do not

    def deeper(self) -> _Ctx:
        if self.depth >= MAX_DEPTH:
            raise _Abort(
                f"shell commands are nested more than {MAX_DEPTH} levels deep (sh -c, $(...), eval, ...); "
                "run them with less nesting"
            )
        return replace(self, depth=self.depth + 1, chain=0)

    def wrapped(self) -> _Ctx:
        if self.chain >= MAX_WRAPPERS:
            raise _Abort(f"more than {MAX_WRAPPERS} wrapper programs around one command")
        return replace(self, chain=self.chain + 1)


class _Abort(Exception):
    """Stops the whole analysis: the argv cannot be checked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Cmd:
    words: tuple[_Word, ...]
    trailing: bool  # unknown arguments are appended (xargs)
    spec: bool


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_ASSIGN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FD_NAME = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_RESERVED = frozenset({"!", "{", "}", "then", "else", "elif", "if", "while", "until", "do", "done", "fi", "esac"})
_OPERATORS = (
    ";;&", "&>>", "<<<", "<<-",
    ";;", ";&", "&&", "||", "|&", "&>", "<<", ">>", "<&", ">&", "<>", ">|",
    ";", "&", "|", "(", ")", "<", ">",
)  # fmt: skip
_REDIRECTS = frozenset({"<", ">", ">>", "<<", "<<-", "<<<", "<&", ">&", "<>", ">|", "&>", "&>>"})
_WORD_END = frozenset(" \t\n;&|()<>")
_SPECIAL_PARAMS = frozenset("@*#?-$!0123456789")
_DYN, _QUOTED, _LIT = 1, 2, 3


def _basename(program: str) -> str:
    return program.rsplit("/", 1)[-1].lstrip("=")  # zsh: =rm is the path of rm


def _show(cmd: _Cmd) -> str:
    shown = shlex.join(w.text for w in cmd.words)
    return repr(shown if len(shown) <= 200 else shown[:197] + "...")


# ------------------------------------------------------------------------------------------------ the analysis


class _Analyzer:
    """Collects the simple commands of one argv, the reasons it cannot be checked, and interactive shells."""

    def __init__(self) -> None:
        self.commands: list[_Cmd] = []
        self.unresolved: list[str] = []
        self.interactive: list[str] = []
        self.budget = MAX_COMMANDS
        self.scanned: set[str] = set()

    def doubt(self, ctx: _Ctx, reason: str) -> None:
        if not ctx.spec and reason not in self.unresolved:
            self.unresolved.append(reason)

    def stdin_shell(self, ctx: _Ctx, what: str) -> None:
        """A shell or interpreter that reads its commands from stdin."""
        if ctx.fed:
            self.doubt(
                ctx,
                f"{what} reads its commands from a pipe, redirect or here-document, which is not visible; "
                "pass shell commands as sh -c '...' instead",
            )
        elif not ctx.spec:
            self.interactive.append(what)

    def command(self, words: Sequence[_Word], ctx: _Ctx, trailing: bool = False) -> None:
        """One simple command (words after expansion syntax was recognized), possibly a wrapper."""
        self.budget -= 1
        if self.budget < 0:
            raise _Abort(f"it expands to more than {MAX_COMMANDS} commands; split it into simpler exec commands")
        i, n = 0, len(words)
        while i < n and (words[i].assign or (not words[i].quoted and words[i].text in _RESERVED)):
            i += 1
        if i == n:
            return
        cmd_words = tuple(words[i:])
        program = cmd_words[0]
        if program.dynamic or program.glob or program.brace:
            what = (
                "a variable, command substitution or arithmetic"
                if program.dynamic
                else "a glob pattern"
                if program.glob
                else "a brace expansion"
            )
            self.doubt(
                ctx,
                f"the program name {program.text!r} contains {what}, so it is only known at run time; "
                "write the program name literally",
            )
            return
        self.commands.append(_Cmd(cmd_words, trailing, ctx.spec))
        name = _basename(program.text)
        handler = _HANDLERS.get(name) or _family_handler(name)
        if handler is not None:
            handler(self, name, cmd_words, ctx, trailing)

    def inner(self, words: Sequence[_Word], ctx: _Ctx, trailing: bool, who: str) -> None:
        """The command a wrapper runs."""
        if words:
            self.command(words, ctx.wrapped(), trailing)
        elif trailing:
            self.doubt(ctx, f"the command that {who} runs comes from its input, so it is only known at run time")

    def suffixes(self, words: Sequence[_Word], start: int, ctx: _Ctx, trailing: bool) -> None:
        """Where the command starts is not known: try every operand position."""
        tried = 0
        for j in range(start, len(words)):
            if words[j].text.startswith("-") and not words[j].unknown:
                continue
            tried += 1
            if tried > MAX_SUFFIXES:
                raise _Abort(f"{_basename(words[0].text)} has too many arguments to find its command in")
            self.command(words[j:], ctx.wrapped(), trailing)

    def shell_text(self, text: str, ctx: _Ctx) -> None:
        """Parse ``text`` as POSIX shell code; ``ctx`` is already one level deeper."""
        fed = ctx.fed or "|" in text or "<" in text
        _Shell(self, text).run(0, replace(ctx, fed=fed) if fed != ctx.fed else ctx, until_paren=False)

    def code_word(self, word: _Word | None, ctx: _Ctx, who: str) -> None:
        """A word that a program runs as shell code (eval, trap, su -c, flock -c, ...)."""
        if word is None:
            return
        if word.dynamic or word.glob or word.brace:
            self.doubt(
                ctx,
                f"{who} runs shell text that is only known at run time ({word.text!r}); write the commands literally",
            )
            return
        self.shell_text(word.text, ctx.deeper())

    def speculate(self, text: str, ctx: _Ctx) -> None:
        """Text that only might be run as shell code: commands found count, doubts do not."""
        if text in self.scanned:
            return
        self.scanned.add(text)
        _Shell(self, text).run(0, replace(ctx.deeper(), spec=True), until_paren=False)


def _analyze(argv: Sequence[str]) -> _Analyzer:
    analysis = _Analyzer()
    total = sum(len(arg) for arg in argv)
    if total > MAX_ARGV_CHARS:
        analysis.unresolved.append(
            f"it is {total} characters long, more than the {MAX_ARGV_CHARS} that are checked; "
            "put long scripts in a file in the image"
        )
        return analysis
    if not argv:
        return analysis
    try:
        analysis.command(tuple(_argv_word(str(arg)) for arg in argv), _Ctx())
    except _Abort as exc:
        analysis.unresolved.append(exc.reason)
    return analysis


# ---------------------------------------------------------------------------------------------- the shell lexer


class _Segment:
    """Parser state between two control operators."""

    __slots__ = (
        "case_pattern", "in_case", "in_test", "paren", "redirect", "skip", "skip_words", "test_start", "words",
    )  # fmt: skip

    def __init__(self) -> None:
        self.words: list[_Word] = []
        self.redirect: str | None = None  # a redirection operator waiting for its target word
        self.skip = False  # for/select/case header: no command here
        self.skip_words = 0  # function NAME
        self.in_test = False  # inside [[ ... ]]
        self.test_start = -1  # where the text after [[ starts
        self.paren = 0  # open subshells
        self.in_case = 0  # open case statements
        self.case_pattern = False  # the next words up to ')' are a case pattern


class _Shell:
    """A small POSIX/bash shell reader: finds simple commands (and substitutions) in one piece of text.

    It never executes anything. Where it cannot tell what the shell would do it errs toward reporting more
    commands, never fewer; syntax errors are read as far as they go.
    """

    def __init__(self, analyzer: _Analyzer, text: str) -> None:
        self.an = analyzer
        self.text = text
        self.n = len(text)
        self.heredocs: list[tuple[str, bool, bool]] = []  # (delimiter, strip tabs, body is expanded)
        self.lexical = 0

    # ---- command lists

    def run(self, pos: int, ctx: _Ctx, until_paren: bool) -> int:
        """Read a command list from ``pos``; with ``until_paren`` stop after its unmatched ``)``."""
        text, n = self.text, self.n
        seg = _Segment()
        while True:
            while pos < n:
                c = text[pos]
                if c == " " or c == "\t":
                    pos += 1
                elif c == "\\" and text.startswith("\\\n", pos):
                    pos += 2
                else:
                    break
            if pos >= n:
                self._end_test(seg, n, ctx)
                self._flush(seg, ctx)
                return n
            c = text[pos]
            if c == "#":
                newline = text.find("\n", pos)
                pos = n if newline < 0 else newline
                continue
            if c == "\n":
                pos += 1
                if seg.in_test:
                    continue
                self._flush(seg, ctx)
                if self.heredocs:
                    pos = self._heredoc_bodies(pos, ctx)
                continue
            if (c == "<" or c == ">") and text.startswith("(", pos + 1):  # process substitution
                end = self.run(pos + 2, ctx.deeper(), until_paren=True)
                self._word_token(seg, _Word(text[pos:end], dynamic=True, unknown=True))
                pos = end
                continue
            if c == "(" and text.startswith("((", pos) and not seg.words and seg.redirect is None:
                arith = self._arith_end(pos + 2)
                if arith is not None:  # bash/ksh/zsh arithmetic command; dash reads nested subshells
                    self._scan_region(pos + 2, arith - 2, ctx)
                    self.an.speculate(text[pos + 1 : arith - 1], ctx)
                    pos = arith
                    continue
            if c in ";&|()<>":
                op = next(o for o in _OPERATORS if text.startswith(o, pos))
                if seg.in_test and op in (";", "&", ";;", ";&", ";;&"):
                    self._end_test(seg, pos, ctx)  # not valid inside [[ ]]: read on as bash's error would not
                pos += len(op)
                if self._operator(seg, op, ctx, until_paren):
                    return pos
                continue
            start = pos
            word, pos = self._word(pos, ctx)
            if (
                pos < n
                and text[pos] in "<>"
                and not word.quoted
                and (word.text.isdigit() or _FD_NAME.fullmatch(word.text))
                and not text.startswith("(", pos + 1)
            ):
                continue  # an IO number such as the 2 of 2>/dev/null: the operator follows
            self._word_token(seg, word)
            if seg.in_test and seg.test_start < 0:
                seg.test_start = pos
            elif not seg.in_test and seg.test_start >= 0:
                self._end_test(seg, start, ctx)

    def _end_test(self, seg: _Segment, end: int, ctx: _Ctx) -> None:
        """[[ is no keyword in dash or busybox ash: there its && || and newlines separate commands."""
        if seg.test_start >= 0:
            self.an.speculate(self.text[seg.test_start : end], ctx)
            seg.test_start = -1
        seg.in_test = False

    def _operator(self, seg: _Segment, op: str, ctx: _Ctx, until_paren: bool) -> bool:
        """Handle a control or redirection operator; True when it closes the list being read."""
        if seg.in_test:
            seg.words.append(_Word(op))
            return False
        if op in _REDIRECTS:
            seg.redirect = op
            return False
        if op == "(":
            if seg.case_pattern and not seg.words:
                return False  # the optional ( of a case pattern
            if seg.words:
                seg.words.clear()  # NAME ( ) { ...; }: a function definition (or coproc NAME (...))
                seg.skip = False
            seg.paren += 1
            return False
        if op == ")":
            if seg.in_case and seg.case_pattern:
                seg.words.clear()
                seg.skip = False
                seg.case_pattern = False
                return False
            self._flush(seg, ctx)
            if seg.paren == 0:
                return until_paren
            seg.paren -= 1
            return False
        self._flush(seg, ctx)
        if op in (";;", ";&", ";;&"):
            seg.case_pattern = seg.in_case > 0
        return False

    def _word_token(self, seg: _Segment, word: _Word) -> None:
        if seg.redirect is not None:
            if seg.redirect in ("<<", "<<-"):
                self.heredocs.append((word.text, seg.redirect == "<<-", not word.quoted))
            seg.redirect = None
            return
        if seg.skip_words:
            seg.skip_words -= 1
            return
        if seg.skip:
            return
        if seg.in_test:
            seg.words.append(word)
            if word.text == "]]" and not word.quoted:
                seg.in_test = False
            return
        if not seg.words and not word.quoted:
            t = word.text
            if t in _RESERVED:
                if t == "esac":
                    seg.in_case = max(0, seg.in_case - 1)
                    seg.case_pattern = False
                return
            if t in ("for", "select"):
                seg.skip = True
                return
            if t == "case":
                seg.skip = True
                seg.in_case += 1
                seg.case_pattern = True
                return
            if t == "function":
                seg.skip_words = 1
                return
            if t == "[[":
                seg.in_test = True
        seg.words.append(word)

    def _flush(self, seg: _Segment, ctx: _Ctx) -> None:
        words = seg.words
        if words and not seg.skip:
            self.an.command(tuple(words), ctx)
        seg.words = []
        seg.skip = False
        seg.skip_words = 0
        seg.redirect = None
        seg.in_test = False

    def _heredoc_bodies(self, pos: int, ctx: _Ctx) -> int:
        text, n = self.text, self.n
        pending, self.heredocs = self.heredocs, []
        for delimiter, strip_tabs, expanded in pending:
            while pos < n:
                end = text.find("\n", pos)
                end = n if end < 0 else end
                line = text[pos:end]
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    pos = end + 1
                    break
                if expanded:
                    self._scan_region(pos, end, ctx, heredoc=True)
                pos = end + 1
        return min(pos, n)

    # ---- words

    def _word(self, pos: int, ctx: _Ctx) -> tuple[_Word, int]:
        text, n = self.text, self.n
        buf: list[str] = []
        length = 0
        dynamic = glob = brace = quoted = first_glob = False
        plain, plain_len = True, 0  # the word so far is unquoted literal text
        last = ""  # the last character, if it was unquoted literal
        brace_stage = 0  # 1: an unquoted '{' was seen; 2: then ',' or '..'
        bracket = -1  # where an unquoted '[' waits for its ']'
        while pos < n:
            c = text[pos]
            if c in _WORD_END:
                if c != "(":
                    break
                if last and last in "@!+*?":  # extglob @(...) !(...) and friends
                    end = self._balanced(pos)
                    first_glob = first_glob or length == 1
                    buf.append(text[pos:end])
                    length += end - pos
                    glob = True
                    plain, last, pos = False, "", end
                    continue
                if plain and last == "=" and _ASSIGN_NAME.fullmatch("".join(buf)[:-1]):  # NAME=(array)
                    end = self._array(pos, ctx)
                    buf.append(text[pos:end])
                    length += end - pos
                    plain, last, pos = False, "", end
                    continue
                if length == 1 and last == "=":  # zsh =(...) process substitution
                    end = self.run(pos + 1, ctx.deeper(), until_paren=True)
                    buf.append(text[pos:end])
                    dynamic, plain, last, pos = True, False, "", end
                    continue
                break
            if c == "\\":
                if pos + 1 >= n:
                    buf.append("\\")
                    length += 1
                    pos += 1
                    continue
                nxt = text[pos + 1]
                pos += 2
                if nxt == "\n":
                    continue
                buf.append(nxt)
                length += 1
                quoted, plain, last = True, False, ""
                continue
            if c == "'":
                end = text.find("'", pos + 1)
                end = n if end < 0 else end
                chunk = text[pos + 1 : end]
                buf.append(chunk)
                length += len(chunk)
                self._maybe_code(chunk, ctx)
                quoted, plain, last, pos = True, False, "", end + 1
                continue
            if c == '"':
                before = len(buf)
                pos, dyn = self._dquote(pos + 1, buf, ctx)
                length += sum(len(part) for part in buf[before:])
                dynamic = dynamic or dyn
                quoted, plain, last = True, False, ""
                continue
            if c == "$":
                before = len(buf)
                pos, kind = self._dollar(pos, buf, ctx, in_dq=False)
                length += sum(len(part) for part in buf[before:])
                if kind == _DYN:
                    dynamic, plain, last = True, False, ""
                elif kind == _QUOTED:
                    quoted, plain, last = True, False, ""
                else:
                    last = "$"
                    if plain:
                        plain_len += 1
                continue
            if c == "`":
                before = len(buf)
                pos = self._backtick(pos, buf, ctx, in_dq=False)
                length += sum(len(part) for part in buf[before:])
                dynamic, plain, last = True, False, ""
                continue
            if c == "*" or c == "?":
                glob = True
                first_glob = first_glob or length == 0
            elif c == "[":
                if bracket < 0:
                    bracket = length
            elif c == "]":
                if bracket >= 0:
                    glob = True
                    first_glob = first_glob or bracket == 0
                    bracket = -1
            elif c == "{":
                brace_stage = brace_stage or 1
            elif c == "," or (c == "." and last == "."):
                if brace_stage == 1:
                    brace_stage = 2
            elif c == "}" and brace_stage == 2:
                brace = True
            buf.append(c)
            length += 1
            last = c
            if plain:
                plain_len += 1
            pos += 1
        word = "".join(buf)
        eq = word.find("=")
        assign = 0 < eq < plain_len and _ASSIGN_NAME.fullmatch(word[:eq]) is not None
        unknown = dynamic or brace or (glob and (first_glob or word.startswith("-")))
        return _Word(word, dynamic, glob, brace, quoted, assign, unknown), pos

    def _dquote(self, pos: int, buf: list[str], ctx: _Ctx) -> tuple[int, bool]:
        """After an opening double quote: to just past the closing one."""
        text, n = self.text, self.n
        dynamic = False
        while pos < n:
            c = text[pos]
            if c == '"':
                return pos + 1, dynamic
            if c == "\\" and pos + 1 < n:
                nxt = text[pos + 1]
                if nxt == "\n":
                    pos += 2
                elif nxt in '$`"\\':
                    buf.append(nxt)
                    pos += 2
                else:
                    buf.append("\\")
                    pos += 1
                continue
            if c == "$":
                pos, kind = self._dollar(pos, buf, ctx, in_dq=True)
                dynamic = dynamic or kind == _DYN
                continue
            if c == "`":
                pos = self._backtick(pos, buf, ctx, in_dq=True)
                dynamic = True
                continue
            end = pos + 1
            while end < n and text[end] not in '"\\$`':
                end += 1
            buf.append(text[pos:end])
            pos = end
        return n, dynamic

    def _dollar(self, pos: int, buf: list[str], ctx: _Ctx, *, in_dq: bool) -> tuple[int, int]:
        """At a ``$``: returns the end and whether the result is dynamic, quoted text, or a literal ``$``."""
        text, n = self.text, self.n
        nxt = text[pos + 1] if pos + 1 < n else ""
        if nxt == "(":
            if text.startswith("((", pos + 1):
                end = self._arith_end(pos + 3)
                if end is not None:
                    self._scan_region(pos + 3, end - 2, ctx)
                    buf.append(text[pos:end])
                    return end, _DYN
            end = self.run(pos + 2, ctx.deeper(), until_paren=True)
            buf.append(text[pos:end])
            return end, _DYN
        if nxt == "{":
            end = self._parameter(pos + 2, ctx, in_dq=in_dq)
            buf.append(text[pos:end])
            return end, _DYN
        if nxt == "[":  # bash's old $[arithmetic]
            buf.append("$")
            return pos + 1, _DYN
        if not in_dq and nxt == "'":
            decoded, end = _ansi_c(text, pos + 2)
            buf.append(decoded)
            self._maybe_code(decoded, ctx)
            return end, _QUOTED
        if not in_dq and nxt == '"':  # $"..." (locale translation)
            end, dynamic = self._dquote(pos + 2, buf, ctx)
            return end, _DYN if dynamic else _QUOTED
        if nxt and nxt in _SPECIAL_PARAMS:
            buf.append(text[pos : pos + 2])
            return pos + 2, _DYN
        if nxt and nxt.isascii() and (nxt.isalpha() or nxt == "_"):
            match = _NAME.match(text, pos + 1)
            end = match.end() if match else pos + 2
            buf.append(text[pos:end])
            return end, _DYN
        buf.append("$")
        return pos + 1, _LIT

    def _parameter(self, pos: int, ctx: _Ctx, *, in_dq: bool) -> int:
        """After ``${``: to just past the matching ``}``; substitutions inside are read."""
        self.lexical += 1
        if self.lexical > _MAX_LEXICAL:
            raise _Abort("${...} expansions are nested too deeply; simplify them")
        try:
            text, n = self.text, self.n
            depth = 0
            sink: list[str] = []
            while pos < n:
                c = text[pos]
                if c == "}":
                    if depth == 0:
                        return pos + 1
                    depth -= 1
                elif c == "{":
                    depth += 1
                elif c == "\\":
                    pos += 2
                    continue
                elif c == "'" and not in_dq:
                    end = text.find("'", pos + 1)
                    end = n if end < 0 else end
                    self._maybe_code(text[pos + 1 : end], ctx)
                    pos = end + 1
                    continue
                elif c == '"':
                    pos, _ = self._dquote(pos + 1, sink, ctx)
                    continue
                elif c == "$":
                    pos, _ = self._dollar(pos, sink, ctx, in_dq=in_dq)
                    continue
                elif c == "`":
                    pos = self._backtick(pos, sink, ctx, in_dq=in_dq)
                    continue
                pos += 1
            return n
        finally:
            self.lexical -= 1

    def _backtick(self, pos: int, buf: list[str], ctx: _Ctx, *, in_dq: bool) -> int:
        text, n = self.text, self.n
        inner: list[str] = []
        i = pos + 1
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n:
                nxt = text[i + 1]
                inner.append(nxt if nxt in "$`\\" or (in_dq and nxt == '"') else c + nxt)
                i += 2
                continue
            if c == "`":
                break
            inner.append(c)
            i += 1
        end = min(i + 1, n)
        buf.append(text[pos:end])
        self.an.shell_text("".join(inner), ctx.deeper())
        return end

    def _arith_end(self, pos: int) -> int | None:
        """After ``((``: just past the matching ``))``, or None when the parentheses close otherwise."""
        text, n = self.text, self.n
        depth = 0
        i = pos
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    return None
                i = end + 1
                continue
            if c == '"':
                i += 1
                while i < n and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
                i += 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    return i + 2 if text.startswith("))", i) else None
                depth -= 1
            i += 1
        return None

    def _scan_region(self, start: int, end: int, ctx: _Ctx, *, heredoc: bool = False) -> None:
        """Substitutions inside arithmetic or an expanded here-document body."""
        text = self.text
        sink: list[str] = []
        i = start
        while i < end:
            c = text[i]
            if c == "\\":
                i += 2
            elif c == "$":
                i, _ = self._dollar(i, sink, ctx, in_dq=True)
            elif c == "`":
                i = self._backtick(i, sink, ctx, in_dq=True)
            elif c == "'" and not heredoc:
                close = text.find("'", i + 1)
                i = self.n if close < 0 else close + 1
            else:
                i += 1

    def _balanced(self, pos: int) -> int:
        """From a ``(``: just past its matching ``)`` (quotes respected), or the end of the text."""
        text, n = self.text, self.n
        depth = 0
        i = pos
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "'" or c == '"':
                close = text.find(c, i + 1)
                i = n if close < 0 else close + 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return n

    def _array(self, pos: int, ctx: _Ctx) -> int:
        """``NAME=( words )``: the words are data, but substitutions in them run."""
        text, n = self.text, self.n
        i = pos + 1
        while i < n:
            c = text[i]
            if c in " \t\n":
                i += 1
            elif c == ")":
                return i + 1
            elif c == "#":
                newline = text.find("\n", i)
                i = n if newline < 0 else newline
            elif c in _WORD_END:
                i += 1
            else:
                _, i = self._word(i, ctx)
        return n

    def _maybe_code(self, chunk: str, ctx: _Ctx) -> None:
        """Quoted text holding $( or backticks may still be evaluated by bash (arithmetic, PS4, ${x@P})."""
        if "$(" in chunk or "`" in chunk:
            self.an.speculate(chunk, ctx)


_ANSI_SIMPLE = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"', "?": "?",
}  # fmt: skip
_ANSI_NUMERIC = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}
_HEX = frozenset("0123456789abcdefABCDEF")
_OCTAL = frozenset("01234567")


def _ansi_c(text: str, pos: int) -> tuple[str, int]:
    """Decode bash's ``$'...'`` from just after the opening quote; returns the text and the end."""
    out: list[str] = []
    n = len(text)
    i = pos
    while i < n:
        c = text[i]
        if c == "'":
            return "".join(out), i + 1
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = text[i + 1]
        i += 2
        if e in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[e])
        elif e in _ANSI_NUMERIC or e in _OCTAL:
            base, width = _ANSI_NUMERIC.get(e, (8, 3))
            digits = _HEX if base == 16 else _OCTAL
            start = i if base == 16 else i - 1
            j = start
            while j < n and j - start < width and text[j] in digits:
                j += 1
            if j == start:
                out.append("\\" + e)
            else:
                value = int(text[start:j], base)
                out.append(chr(value) if value <= 0x10FFFF else "\ufffd")
                i = j
        elif e == "c" and i < n:
            out.append(chr(ord(text[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + e)
    return "".join(out), n


# ------------------------------------------------------------------------------------------------ option syntax


@dataclass(frozen=True)
class _Opts:
    """getopt-style options of one program."""

    short_val: str = ""  # take a value: attached or the next word
    short_opt: str = ""  # take a value only when attached
    short_flag: str = ""
    long: Mapping[str, tuple[str, int]] | None = None  # name -> (key, 0 flag | 1 value | 2 optional =value)
    numeric: bool = False  # -5 is an option (nice)


_HELP = {"help": ("help", 0), "version": ("version", 0)}


def _L(spec: str) -> dict[str, tuple[str, int]]:
    """Long options from ``"name:key"`` (flag), ``"name:key="`` (value) and ``"name:key?"`` (optional =value)."""
    table: dict[str, tuple[str, int]] = {}
    for item in spec.split():
        name, _, key = item.partition(":")
        arity = 1 if key.endswith("=") else 2 if key.endswith("?") else 0
        table[name] = (key.rstrip("=?"), arity)
    return table


_Seen = list[tuple[str, _Word | None]]


def _long_option(opts: _Opts, name: str) -> tuple[str, int] | None:
    table = {**_HELP, **(opts.long or {})}
    if name in table:
        return table[name]
    hits = {table[k] for k in table if name and k.startswith(name)}
    return hits.pop() if len(hits) == 1 else None


def _one_option(words: Sequence[_Word], i: int, opts: _Opts) -> tuple[int, _Seen] | None:
    """Parse the option at ``words[i]``; None when it is not one this table knows."""
    word = words[i]
    t = word.text
    if word.unknown:
        return None
    if t.startswith("--"):
        name, eq, value = t[2:].partition("=")
        hit = _long_option(opts, name)
        if hit is None:
            return None
        key, arity = hit
        if eq:
            return i + 1, [(key, _Word(value))]
        if arity == 1:
            return (i + 2, [(key, words[i + 1])]) if i + 1 < len(words) else (i + 1, [(key, None)])
        return i + 1, [(key, None)]
    if opts.numeric and t[1:].isdigit():
        return i + 1, [("N", _Word(t[1:]))]
    seen: _Seen = []
    for j in range(1, len(t)):
        c = t[j]
        if c in opts.short_val:
            if j + 1 < len(t):
                seen.append((c, _Word(t[j + 1 :])))
                return i + 1, seen
            if i + 1 < len(words):
                seen.append((c, words[i + 1]))
                return i + 2, seen
            seen.append((c, None))
            return i + 1, seen
        if c in opts.short_opt:
            seen.append((c, _Word(t[j + 1 :]) if j + 1 < len(t) else None))
            return i + 1, seen
        if c not in opts.short_flag:
            return None
        seen.append((c, None))
    return i + 1, seen


def _options(words: Sequence[_Word], start: int, opts: _Opts) -> tuple[int, _Seen, bool]:
    """Options from ``start`` up to the first operand: (operand index, options seen, all were known)."""
    i = start
    seen: _Seen = []
    while i < len(words):
        word = words[i]
        if word.unknown:
            return i, seen, False
        if word.text == "--":
            return i + 1, seen, True
        if len(word.text) < 2 or not word.text.startswith("-"):
            return i, seen, True
        parsed = _one_option(words, i, opts)
        if parsed is None:
            return i, seen, False
        i, found = parsed
        seen.extend(found)
    return i, seen, True


# ------------------------------------------------------------------------------------------------ the handlers

_Handler = Callable[[_Analyzer, str, tuple[_Word, ...], _Ctx, bool], None]


@dataclass(frozen=True)
class _Wrap:
    opts: _Opts
    operands: int = 0  # operands before the command (timeout DURATION, chroot DIR)
    no_command: frozenset[str] = frozenset()  # options after which nothing is run (command -v, ionice -p)
    shell_if_empty: bool = False  # without a command it starts an interactive shell
    shell_keys: frozenset[str] = frozenset()  # ... or only with these options (sudo -s / -i)


def _f(*keys: str) -> frozenset[str]:
    return frozenset(keys)


_WRAPPERS: dict[str, _Wrap] = {
    "nice": _Wrap(_Opts(short_val="n", long=_L("adjustment:n="), numeric=True)),
    "nohup": _Wrap(_Opts()),
    "builtin": _Wrap(_Opts()),
    "noglob": _Wrap(_Opts()),
    "nocorrect": _Wrap(_Opts()),
    "catchsegv": _Wrap(_Opts()),
    "exec": _Wrap(_Opts(short_val="a", short_flag="cl")),
    "command": _Wrap(_Opts(short_flag="pvV"), no_command=_f("v", "V")),
    "timeout": _Wrap(
        _Opts(
            short_val="ks",
            short_flag="v",
            long=_L("kill-after:k= signal:s= preserve-status:p foreground:f verbose:v"),
        ),
        operands=1,
    ),
    "stdbuf": _Wrap(_Opts(short_val="ioe", long=_L("input:i= output:o= error:e="))),
    "ionice": _Wrap(
        _Opts(
            short_val="cnpPu",
            short_flag="t",
            long=_L("class:c= classdata:n= pid:p= pgid:P= uid:u= ignore:t"),
        ),
        no_command=_f("p", "P", "u"),
    ),
    "setsid": _Wrap(_Opts(short_flag="cfw", long=_L("ctty:c fork:f wait:w"))),
    "time": _Wrap(
        _Opts(
            short_val="fo",
            short_flag="apqv",
            long=_L("format:f= output:o= append:a portability:p verbose:v quiet:q"),
        )
    ),
    "chroot": _Wrap(
        _Opts(long=_L("userspec:u= groups:g= skip-chdir:s")),
        operands=1,
        shell_if_empty=True,
    ),
    "gosu": _Wrap(_Opts(), operands=1),
    "su-exec": _Wrap(_Opts(), operands=1),
    "s6-setuidgid": _Wrap(_Opts(), operands=1),
    "taskset": _Wrap(
        _Opts(short_flag="acp", long=_L("all-tasks:a cpu-list:c pid:p")),
        operands=1,
        no_command=_f("p"),
    ),
    "chrt": _Wrap(
        _Opts(
            short_val="TPD",
            short_flag="abdefimoprRv",
            long=_L(
                "sched-runtime:T= sched-period:P= sched-deadline:D= pid:p max:m all-tasks:a batch:b deadline:d "
                "fifo:f idle:i other:o rr:r reset-on-fork:R verbose:v"
            ),
        ),
        operands=1,
        no_command=_f("p", "m"),
    ),
    "sudo": _Wrap(
        _Opts(
            short_val="CDgprRtTuU",
            short_flag="AbBEeHhiKklnNPSsVv",
            long=_L(
                "askpass:A background:b bell:B close-from:C= chdir:D= preserve-env:E? edit:e group:g= set-home:H "
                "login:i remove-timestamp:K reset-timestamp:k list:l non-interactive:n preserve-groups:P "
                "prompt:p= chroot:R= role:r= stdin:S shell:s type:t= command-timeout:T= other-user:U= user:u= "
                "validate:v host:host="
            ),
        ),
        no_command=_f("e", "l", "v", "V", "K"),
        shell_keys=_f("s", "i"),
    ),
    "doas": _Wrap(_Opts(short_val="Cu", short_flag="Lns"), no_command=_f("L"), shell_keys=_f("s")),
    "pkexec": _Wrap(
        _Opts(long=_L("user:u= disable-internal-agent:d keep-cwd:k")),
        shell_if_empty=True,
    ),
    "tini": _Wrap(_Opts(short_val="ep", short_flag="hsvwgl")),
    "dumb-init": _Wrap(_Opts(short_val="r", short_flag="cvV", long=_L("single-child:c rewrite:r= verbose:v"))),
    "nsenter": _Wrap(
        _Opts(
            short_val="tSG",
            short_opt="muinpUCTrw",
            short_flag="aFeZ",
            long=_L(
                "target:t= mount:m? uts:u? ipc:i? net:n? pid:p? cgroup:C? user:U? time:T? setuid:S= setgid:G= "
                "root:r? wd:w? all:a no-fork:F preserve-credentials:pc follow-context:Z env:e keep-caps:kc "
                "user-parent:up join-cgroup:jc wdns:wdns="
            ),
        ),
        shell_if_empty=True,
    ),
    "unshare": _Wrap(
        _Opts(
            short_val="RwSGl",
            short_opt="muinpUCT",
            short_flag="fcrk",
            long=_L(
                "mount:m? uts:u? ipc:i? net:n? pid:p? user:U? cgroup:C? time:T? fork:f kill-child:kc? "
                "mount-proc:mp? mount-binfmt:mb? map-root-user:r map-current-user:c map-user:mu= map-group:mg= "
                "map-users:mus= map-groups:mgs= map-auto:ma propagation:pr= setgroups:sg= root:R= wd:w= setuid:S= "
                "setgid:G= monotonic:mo= boottime:bt= keep-caps:kp load-interp:l="
            ),
        ),
        shell_if_empty=True,
    ),
}

_LOOSE = frozenset(
    {
        "strace", "ltrace", "valgrind", "prlimit", "systemd-run", "firejail", "bwrap", "setpriv", "chpst",
        "cgexec", "numactl", "xvfb-run", "faketime", "torsocks", "proxychains", "proxychains4", "unbuffer",
        "fakeroot", "fakechroot", "daemonize", "start-stop-daemon", "runcon", "nocache", "dbus-run-session",
        "s6-envuidgid", "setuidgid", "envuidgid", "softlimit", "setlock", "with-contenv", "perf", "ssh-agent",
        "eatmydata", "schedtool", "cpulimit", "trickle", "minijail0", "sandbox",
    }
)  # fmt: skip

_POSIX_SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ash", "ksh", "ksh93", "mksh", "pdksh", "oksh", "lksh", "loksh", "yash",
     "posh", "hush", "rbash", "bosh", "osh"}
)  # fmt: skip
_OTHER_SHELLS = frozenset(
    {"fish", "csh", "tcsh", "rc", "es", "nu", "elvish", "xonsh", "pwsh", "powershell", "ion", "murex", "ysh"}
)


def _wrapper(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    spec = _WRAPPERS[name]
    i, seen, certain = _options(words, 1, spec.opts)
    if not certain:
        an.suffixes(words, i, ctx, trailing)
        return
    keys = {key for key, _ in seen}
    if keys & spec.no_command or keys & {"help", "version"}:
        return
    rest = words[i + spec.operands :]
    if not rest and not trailing and (spec.shell_if_empty or keys & spec.shell_keys):
        an.stdin_shell(ctx, name)
        return
    an.inner(rest, ctx, trailing, name)


def _loose(an: _Analyzer, _name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    an.suffixes(words, 1, ctx, trailing)


def _env(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    opts = _Opts(
        short_val="uCSa",
        short_flag="i0v",
        long=_L(
            "ignore-environment:i null:0 unset:u= chdir:C= split-string:S= block-signal:bs? "
            "default-signal:ds? ignore-signal:is? list-signal-handling:ls debug:v argv0:a="
        ),
    )
    i, seen, certain = _options(words, 1, opts)
    if not certain:
        an.suffixes(words, i, ctx, trailing)
        return
    if any(key in ("help", "version") for key, _ in seen):
        return
    while i < len(words) and (words[i].text == "-" or "=" in words[i].text):
        i += 1  # "-" is -i; NAME=VALUE sets a variable
    split: list[_Word] = []
    for key, value in seen:
        if key == "S" and value is not None:
            try:
                parts = shlex.split(value.text)
            except ValueError:
                parts = value.text.split()
            split.extend(_Word(p, dynamic=value.dynamic or "$" in p, unknown=value.dynamic or "$" in p) for p in parts)
    an.inner((*split, *words[i:]), ctx, trailing, name)


def _multicall(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """busybox / toybox APPLET ARGS."""
    if len(words) > 1 and words[1].text.startswith("-") and not words[1].unknown:
        return  # --list, --install, --help
    an.inner(words[1:], ctx, trailing, name)


def _coproc(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    rest = words[1:]
    if len(rest) >= 2 and not rest[1].quoted and rest[1].text == "{":
        rest = rest[2:]  # coproc NAME { ...; }
    an.inner(rest, ctx, trailing, name)


def _xargs(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, _trailing: bool) -> None:
    opts = _Opts(
        short_val="adEILnPs",
        short_opt="eil",
        short_flag="0oprtx",
        long=_L(
            "arg-file:a= delimiter:d= eof:e? replace:i? max-lines:l? max-args:n= max-procs:P= max-chars:s= "
            "process-slot-var:psv= null:0 open-tty:o interactive:p no-run-if-empty:r verbose:t exit:x "
            "show-limits:sl"
        ),
    )
    i, seen, certain = _options(words, 1, opts)
    if not certain:
        an.suffixes(words, i, ctx, True)
        return
    if any(key in ("help", "version") for key, _ in seen):
        return
    replace_str: str | None = None
    for key, value in seen:
        if key == "I":
            replace_str = value.text if value is not None and not value.unknown else ""
        elif key == "i":
            replace_str = value.text if value is not None and value.text else "{}"
    rest = words[i:]
    if not rest:
        return  # runs echo
    if replace_str is None:
        an.inner(rest, ctx, True, name)
        return
    marked = tuple(replace(w, dynamic=True, unknown=True) if replace_str in w.text else w for w in rest)
    an.inner(marked, ctx, False, name)


def _find(an: _Analyzer, _name: str, words: tuple[_Word, ...], ctx: _Ctx, _trailing: bool) -> None:
    i, n = 1, len(words)
    while i < n:
        if words[i].text in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < n and not (words[j].text == ";" or (words[j].text == "+" and words[j - 1].text == "{}")):
                j += 1
            # {} is the path of a found file: it starts with the starting point, never with "-",
            # but as the program it is whatever file was found.
            inner = words[i + 1 : j]
            if inner and "{}" in inner[0].text:
                inner = (replace(inner[0], dynamic=True, unknown=True), *inner[1:])
            an.inner(inner, ctx, False, "find -exec")
            i = j + 1
        else:
            i += 1


def _watch(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    opts = _Opts(
        short_val="nq",
        short_flag="bcCdegprtwx",
        long=_L(
            "interval:n= differences:d? equexit:q= exec:x beep:b color:c no-color:C errexit:e chgexit:g "
            "precise:p no-rerun:r no-title:t no-wrap:w no-linewrap:w"
        ),
    )
    i, seen, certain = _options(words, 1, opts)
    if not certain:
        an.suffixes(words, i, ctx, trailing)
        return
    rest = words[i:]
    if any(key == "x" for key, _ in seen):
        an.inner(rest, ctx, trailing, name)
    elif rest:  # watch joins its arguments and runs them with sh -c
        an.code_word(_Word(" ".join(w.text for w in rest)), ctx, name)
    elif trailing:
        an.inner((), ctx, trailing, name)


def _flock(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    opts = _Opts(
        short_val="wEc",
        short_flag="sxenuoFv",
        long=_L(
            "shared:s exclusive:x nonblock:n nb:n unlock:u timeout:w= wait:w= conflict-exit-code:E= close:o "
            "no-fork:F command:c= verbose:v"
        ),
    )
    i, seen, certain = _options(words, 1, opts)
    if not certain:
        an.suffixes(words, i, ctx, trailing)
        return
    codes = [value for key, value in seen if key == "c"]
    rest = words[i + 1 :]  # after the lock file (or file descriptor)
    if rest and rest[0].text in ("-c", "--command"):
        codes.append(rest[1] if len(rest) > 1 else None)
        rest = ()
    for code in codes:
        an.code_word(code, ctx, "flock -c")
    if not codes and i < len(words):
        an.inner(rest, ctx, trailing, name)


_SU_OPTS = _Opts(
    short_val="cgGswu",
    short_flag="flmpP",
    long=_L(
        "command:c= session-command:c= group:g= supp-group:G= shell:s= whitelist-environment:w= login:l "
        "fast:f preserve-environment:p pty:P user:u="
    ),
)


def _su(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """su / runuser: options anywhere (getopt permutes); -c STRING; extra operands go to the user's shell."""
    if name == "runuser":
        i, seen, certain = _options(words, 1, _SU_OPTS)
        if certain and any(key == "u" for key, _ in seen) and not any(key == "c" for key, _ in seen):
            an.inner(words[i:], ctx, trailing, name)  # runuser -u USER [--] COMMAND...
            return
    codes: list[_Word | None] = []
    shell: _Word | None = None
    user_seen = False
    shell_args: list[_Word] = []
    i = 1
    while i < len(words):
        word = words[i]
        if word.text == "--":
            shell_args.extend(words[i + 1 :])
            break
        if word.unknown:
            an.doubt(ctx, f"the arguments of {name} are only known at run time ({word.text!r}); write them literally")
            return
        if word.text == "-" or not word.text.startswith("-"):
            if word.text != "-":
                if user_seen:
                    shell_args.append(word)
                user_seen = True
            i += 1
            continue
        parsed = _one_option(words, i, _SU_OPTS)
        if parsed is None:
            an.suffixes(words, i, ctx, trailing)
            return
        i, found = parsed
        for key, value in found:
            if key == "c":
                codes.append(value)
            elif key == "s":
                shell = value
        if any(key in ("help", "version") for key, _ in found):
            return
    if (codes or shell_args) and shell is not None and (shell.unknown or _basename(shell.text) not in _POSIX_SHELLS):
        an.doubt(ctx, f"{name} runs the command with the shell {shell.text!r}, whose language is not parsed")
        return
    for code in codes:
        an.code_word(code, ctx, f"{name} -c")
    if shell_args:
        an.command((_Word("sh"), *shell_args), ctx.wrapped(), trailing)
    elif not codes:
        if trailing:
            an.inner((), ctx, trailing, name)
        else:
            an.stdin_shell(ctx, name)


def _script(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """util-linux script: -c STRING runs with $SHELL -c; without it an interactive shell."""
    code: _Word | None = None
    found = False
    for j, word in enumerate(words[1:], start=1):
        t = word.text
        if t in ("-c", "--command") or (t.startswith("-") and not t.startswith("--") and t.endswith("c")):
            code = words[j + 1] if j + 1 < len(words) else None
            found = True
        elif t.startswith("--command="):
            code, found = _Word(t.partition("=")[2], dynamic=word.dynamic), True
        elif t.startswith("-c") and not t.startswith("--"):
            code, found = _Word(t[2:], dynamic=word.dynamic), True
    if found:
        an.code_word(code, ctx, "script -c")
    elif not trailing:
        an.stdin_shell(ctx, name)


def _sg(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """sg [-] GROUP [-c] COMMAND: the command is a string for /bin/sh -c."""
    rest = [w for w in words[1:] if w.text != "-"]
    rest = rest[1:]  # the group
    if rest and rest[0].text == "-c":
        rest = rest[1:]
    if rest:
        an.code_word(_Word(" ".join(w.text for w in rest), dynamic=any(w.dynamic for w in rest)), ctx, name)
    elif not trailing:
        an.stdin_shell(ctx, name)


def _capsh(an: _Analyzer, _name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """capsh [...] -- ARGS runs /bin/bash ARGS."""
    for j, word in enumerate(words):
        if word.text == "--":
            an.command((_Word("bash"), *words[j + 1 :]), ctx.wrapped(), trailing)
            return


def _eval(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    args = words[1:]
    if args and args[0].text == "--":
        args = args[1:]
    if trailing or any(w.dynamic or w.glob or w.brace for w in args):
        an.doubt(ctx, "eval of text that is only known at run time; write the command out instead of using eval")
        return
    an.code_word(_Word(" ".join(w.text for w in args)), ctx, name)


def _trap(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, _trailing: bool) -> None:
    args = words[1:]
    if args and args[0].text == "--":
        args = args[1:]
    if len(args) >= 2 and not args[0].text.startswith("-"):
        an.code_word(args[0], ctx, name)


def _mapfile(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, _trailing: bool) -> None:
    _, seen, _ = _options(words, 1, _Opts(short_val="dnOsuCc", short_flag="t"))
    for key, value in seen:
        if key == "C":
            an.code_word(value, ctx, f"{name} -C")


def _alias(an: _Analyzer, _name: str, words: tuple[_Word, ...], ctx: _Ctx, _trailing: bool) -> None:
    if any("=" in w.text or w.unknown for w in words[1:]):
        an.doubt(ctx, "alias redefines what a command name runs; run the command itself instead of an alias")


def _hash(an: _Analyzer, _name: str, words: tuple[_Word, ...], ctx: _Ctx, _trailing: bool) -> None:
    if any(w.unknown or (w.text.startswith("-") and "p" in w.text) for w in words[1:]):
        an.doubt(ctx, "hash -p redefines which file a command name runs; run that file by its own name instead")


def _source(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    if len(words) > 1 or trailing:
        target = words[1].text if len(words) > 1 else "a file"
        an.doubt(
            ctx,
            f"`{name} {target}` runs shell code from a file, which cannot be inspected; run its commands directly",
        )


def _shell(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """sh [options] [-c STRING [NAME [ARG...]] | -s [ARG...] | FILE [ARG...]]."""
    has_c = has_s = False
    i, n = 1, len(words)
    while i < n:
        word = words[i]
        t = word.text
        if word.unknown:
            an.doubt(ctx, f"the options of {name} are only known at run time ({t!r}); write them literally")
            return
        if t in ("--", "-"):
            i += 1
            break
        if t.startswith("--"):
            i += 2 if t in ("--rcfile", "--init-file") else 1
            continue
        if len(t) > 1 and t[0] in "-+":
            values = 0
            for ch in t[1:]:
                if ch == "c" and t[0] == "-":
                    has_c = True
                elif ch == "s" and t[0] == "-":
                    has_s = True
                elif ch in "oO":
                    values += 1
            i += 1 + values
            continue
        break
    operands = words[i:]
    if has_c:
        if operands:
            an.code_word(operands[0], ctx, f"{name} -c")
        elif trailing:
            an.doubt(ctx, f"the command string of {name} -c comes from its input, so it is only known at run time")
        return
    if operands and not has_s:
        an.doubt(
            ctx,
            f"`{name} {operands[0].text}` runs a shell script whose content cannot be inspected; "
            f"pass the commands with {name} -c '...' instead",
        )
    elif trailing and not has_s:
        an.doubt(ctx, f"{name} runs a script named by its input, whose content cannot be inspected")
    else:
        an.stdin_shell(ctx, name)


def _other_shell(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """fish, csh, pwsh, ...: their languages are not parsed."""
    for word in words[1:]:
        t = word.text
        if word.unknown or not t.startswith("-") or "c" in t.lower():
            an.doubt(
                ctx,
                f"{name} runs code in its own language, which the command patterns cannot see into; "
                "use sh -c '...' instead",
            )
            return
    if trailing:
        an.inner((), ctx, trailing, name)
    else:
        an.stdin_shell(ctx, name)


@dataclass(frozen=True)
class _Interp:
    language: str
    code_short: str = ""  # -c, -e: a cluster holding one of these runs inline code
    code_long: frozenset[str] = frozenset()  # --eval, -ex (gdb), --cmd (vim): exact words
    value_short: str = ""  # options whose value may be the next word
    module_short: str = ""  # python -m: the program is an installed module
    plus_code: bool = False  # vim +CMD
    code_operand: str = ""  # deno eval CODE


_INTERPRETERS: dict[str, _Interp] = {
    "python": _Interp("Python", code_short="c", value_short="WX", module_short="m"),
    "perl": _Interp("Perl", code_short="eE", value_short="I"),
    "ruby": _Interp("Ruby", code_short="e", value_short="IrCEF"),
    "node": _Interp("JavaScript", code_short="ep", code_long=_f("--eval", "--print"), value_short="rC"),
    "bun": _Interp("JavaScript", code_short="ep", code_long=_f("--eval", "--print")),
    "deno": _Interp("JavaScript", code_operand="eval"),
    "php": _Interp("PHP", code_short="rBRE", value_short="cdz"),
    "lua": _Interp("Lua", code_short="e", value_short="l"),
    "R": _Interp("R", code_short="e"),
    "Rscript": _Interp("R", code_short="e"),
    "julia": _Interp("Julia", code_short="eE", code_long=_f("--eval", "--print")),
    "tclsh": _Interp("Tcl"),
    "wish": _Interp("Tcl"),
    "expect": _Interp("Tcl", code_short="c"),
    "gdb": _Interp(
        "gdb",
        code_long=_f("-ex", "--ex", "-iex", "--iex", "-eval-command", "--eval-command", "-init-eval-command"),
    ),
    "vim": _Interp("Vim script", code_short="c", code_long=_f("--cmd"), plus_code=True),
    "irb": _Interp("Ruby"),
    "jshell": _Interp("Java"),
}
_INTERP_ALIASES = {
    "nodejs": "node", "nvim": "vim", "vi": "vim", "view": "vim", "ex": "vim", "vimdiff": "vim", "rvim": "vim",
    "luajit": "lua", "tclsh8.6": "tclsh", "php-cli": "php",
}  # fmt: skip
_VERSIONED = re.compile(r"(python|pypy|perl|ruby|php|lua|tclsh|wish)(?:\d+(?:\.\d+)*)?[dmu]?(?:-cli)?")
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "original-awk", "bwk-awk", "goawk", "busybox-awk"})


def _interpreter(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """Inline code in another language cannot be checked; a REPL is interactive; a script is opaque."""
    key = _INTERP_ALIASES.get(name, name)
    match = _VERSIONED.fullmatch(key)
    if match:
        key = "python" if match.group(1) == "pypy" else match.group(1)
    spec = _INTERPRETERS[key]
    code: str | None = None
    has_program = from_stdin = False
    i, n = 1, len(words)
    while i < n:
        word = words[i]
        t = word.text
        if word.unknown:
            code = t
            break
        if t == "--":
            has_program = i + 1 < n
            break
        if t in spec.code_long or t.partition("=")[0] in spec.code_long or (spec.plus_code and t.startswith("+")):
            code = t
            break
        if t == "-":
            from_stdin = True
            break
        if t.startswith("--"):
            i += 1
            continue
        if t.startswith("-") and len(t) > 1:
            skip = 0
            for k, ch in enumerate(t[1:], start=1):
                if ch in spec.code_short:
                    code = "-" + ch
                    break
                if ch in spec.module_short:
                    has_program = True
                    break
                if ch in spec.value_short:
                    skip = 1 if k == len(t) - 1 else 0
                    break
            if code is not None or has_program:
                break
            i += 1 + skip
            continue
        if spec.code_operand and t == spec.code_operand:
            code = t
        has_program = True
        break
    if code is not None:
        an.doubt(
            ctx,
            f"`{name} {code}` runs {spec.language} code, which the command patterns cannot see into; "
            "run plain commands instead, or use a profile whose exec guardrail does not fail closed",
        )
    elif has_program:
        return  # a program file or module in the image: opaque, like any binary
    elif trailing:
        an.doubt(ctx, f"{name} gets its program from its input, which cannot be inspected")
    elif from_stdin or ctx.fed or n == 1 or any(w.text == "-i" for w in words[1:]):
        an.stdin_shell(ctx, name)


def _awk(an: _Analyzer, name: str, words: tuple[_Word, ...], ctx: _Ctx, trailing: bool) -> None:
    """awk can run commands only through system(), pipes (| or |&) and gawk's indirect calls (@)."""
    programs: list[_Word] = []
    from_file = False
    i, n = 1, len(words)
    while i < n:
        word = words[i]
        t = word.text
        if t == "--":
            i += 1
            break
        if t.startswith("--"):
            opt, eq, attached = t[2:].partition("=")
            if opt == "source":
                programs.append(_Word(attached, dynamic=word.dynamic) if eq else words[min(i + 1, n - 1)])
            elif opt in ("file", "include", "exec", "load"):
                from_file = True
            if not eq and opt in ("source", "file", "include", "exec", "load", "field-separator", "assign"):
                i += 1
            i += 1
            continue
        if t.startswith("-") and len(t) > 1:
            flag, attached = t[1], t[2:]
            value: _Word | None = _Word(attached, dynamic=word.dynamic)
            if flag in "FvfEeilW" and not attached:
                i += 1
                value = words[i] if i < n else None
            if flag == "e" and value is not None:
                programs.append(value)
            elif flag in "fEil":
                from_file = True
            i += 1
            continue
        break
    if not programs and not from_file:
        if i < n:
            programs.append(words[i])
        elif trailing:
            an.doubt(ctx, f"the {name} program comes from its input, which cannot be inspected")
    for program in programs:
        text = program.text
        if program.dynamic or "system" in text or "|" in text.replace("||", "") or "@" in text:
            an.doubt(
                ctx,
                f"the {name} program may run commands (system(), a pipe '|' or an indirect call '@'), "
                "which the command patterns cannot see into; a '|' inside a regular expression counts too",
            )
            return


_HANDLERS: dict[str, _Handler] = dict.fromkeys(_WRAPPERS, _wrapper)
_HANDLERS.update(dict.fromkeys(_LOOSE, _loose))
_HANDLERS.update(dict.fromkeys(_POSIX_SHELLS, _shell))
_HANDLERS.update(dict.fromkeys(_OTHER_SHELLS, _other_shell))
_HANDLERS.update(dict.fromkeys((*_INTERPRETERS, *_INTERP_ALIASES), _interpreter))
_HANDLERS.update(dict.fromkeys(_AWKS, _awk))
_HANDLERS.update(
    {
        "env": _env,
        "busybox": _multicall,
        "toybox": _multicall,
        "coproc": _coproc,
        "xargs": _xargs,
        "find": _find,
        "watch": _watch,
        "flock": _flock,
        "su": _su,
        "runuser": _su,
        "script": _script,
        "sg": _sg,
        "capsh": _capsh,
        "eval": _eval,
        "trap": _trap,
        "mapfile": _mapfile,
        "readarray": _mapfile,
        "alias": _alias,
        "hash": _hash,
        "source": _source,
        ".": _source,
    }
)


@lru_cache(maxsize=256)
def _family_handler(name: str) -> _Handler | None:
    """python3.11, perl5.36, ruby3.2, php8.2-cli, ...: versioned interpreter names."""
    return _interpreter if _VERSIONED.fullmatch(name) else None


# ---------------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class _OptionTable:
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
        return ["-" + alias.get(c, c) for c in arg[1:]]
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
        tokens.update("-" + alias.get(c, c) for c in arg[1:])
    return tokens


_NO, _YES, _MAYBE = 0, 1, 2


def _match(pattern: CommandPattern, cmd: _Cmd, base: str) -> int:
    if base != pattern.program and not base.startswith(pattern.program + "."):
        return _NO
    if not pattern.args:
        return _YES
    present: set[str] = set()
    unknown_options = unknown_operands = after = False
    for word in cmd.words[1:]:
        if after:
            present.add(word.text)
            unknown_operands = unknown_operands or word.unknown
        elif word.unknown:
            unknown_options = True
        elif word.text == "--":
            after = True
        else:
            present |= _argument_tokens(pattern.program, word.text)
    if cmd.trailing:
        unknown_operands = True
        unknown_options = unknown_options or not after
    missing = [arg for arg in pattern.args if arg not in present]
    if not missing:
        return _YES
    if unknown_options or (unknown_operands and any(not arg.startswith("-") for arg in missing)):
        return _MAYBE
    return _NO


def _first_match(analysis: _Analyzer, patterns: Sequence[CommandPattern]) -> tuple[CommandPattern, _Cmd] | None:
    for cmd in analysis.commands:
        base = _basename(cmd.words[0].text)
        for pattern in patterns:
            if _match(pattern, cmd, base) == _YES:
                return pattern, cmd
    return None


def _partial_matches(analysis: _Analyzer, patterns: Sequence[CommandPattern]) -> list[str]:
    reasons: list[str] = []
    for cmd in analysis.commands:
        if cmd.spec:
            continue
        base = _basename(cmd.words[0].text)
        for pattern in patterns:
            if _match(pattern, cmd, base) == _MAYBE:
                reasons.append(
                    f"the arguments of {_show(cmd)} are only partly known before it runs (variables, "
                    f"substitutions, globs or xargs input), so they may complete the denied pattern "
                    f"{pattern.text!r}; write them literally (put -- before file names)"
                )
    return reasons
