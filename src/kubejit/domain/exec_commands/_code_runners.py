"""Programs that run a string of shell code, and builtins that change what a command name runs.

Why this exists: ``su -c 'rm -rf /'``, ``flock /tmp/l -c '...'``, ``watch 'rm ...'``, ``eval``, ``trap`` and
friends take shell text as an argument; it is parsed like ``sh -c`` text (:meth:`Analyzer.code_word`).
``alias``, ``hash -p`` and ``source``/``.`` make later command names unknowable, so they are doubts. The
handler registry (:mod:`._handlers`) maps program names to these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands._environment import check_assignment
from kubejit.domain.exec_commands._option_specs import (
    HELP_KEYS,
    OptionSpec,
    ParsedOptions,
    long_options,
    option_keys,
    parse_one_option,
    parse_options,
)
from kubejit.domain.exec_commands._shells import is_posix_shell
from kubejit.domain.exec_commands._words import Context, Word, basename, joined_word
from kubejit.domain.exec_commands._wrappers import options_or_guess

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer


_WATCH_OPTIONS = OptionSpec(
    short_val="nq",
    short_flag="bcCdegprtwx",
    long=long_options(
        "interval:n= differences:d? equexit:q= exec:x beep:b color:c no-color:C errexit:e chgexit:g "
        "precise:p no-rerun:r no-title:t no-wrap:w no-linewrap:w"
    ),
)
_FLOCK_OPTIONS = OptionSpec(
    short_val="wEc",
    short_flag="sxenuoFv",
    long=long_options(
        "shared:s exclusive:x nonblock:n nb:n unlock:u timeout:w= wait:w= conflict-exit-code:E= close:o "
        "no-fork:F command:c= verbose:v"
    ),
)
_SU_OPTIONS = OptionSpec(
    short_val="cgGswu",
    short_flag="flmpP",
    long=long_options(
        "command:c= session-command:c= group:g= supp-group:G= shell:s= whitelist-environment:w= login:l "
        "fast:f preserve-environment:p pty:P user:u="
    ),
)
_MAPFILE_OPTIONS = OptionSpec(short_val="dnOsuCc", short_flag="t")


def watch(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """watch [OPTIONS] COMMAND...: the arguments are joined and run with sh -c, unless -x."""
    if (parsed := options_or_guess(analysis, words, _WATCH_OPTIONS, ctx, trailing)) is None:
        return
    index, seen = parsed
    rest = words[index:]
    if "x" in option_keys(seen):
        analysis.inner(rest, ctx, trailing, name)
    elif rest:  # watch joins its arguments and runs them with sh -c
        analysis.code_word(joined_word(rest), ctx, name)
    elif trailing:
        analysis.inner((), ctx, trailing, name)


def flock(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """flock [OPTIONS] FILE COMMAND... or flock [OPTIONS] FILE -c STRING."""
    if (parsed := options_or_guess(analysis, words, _FLOCK_OPTIONS, ctx, trailing)) is None:
        return
    index, seen = parsed
    codes = [value for key, value in seen if key == "c"]
    rest = words[index + 1 :]  # after the lock file (or file descriptor)
    if rest and rest[0].text in ("-c", "--command"):
        codes.append(rest[1] if len(rest) > 1 else None)
        rest = ()
    for code in codes:
        analysis.code_word(code, ctx, "flock -c")
    if not codes and index < len(words):
        analysis.inner(rest, ctx, trailing, name)


@dataclass
class _SuArguments:
    """What su / runuser was asked to run."""

    codes: list[Word | None] = field(default_factory=list)  # -c STRING
    shell: Word | None = None  # -s SHELL
    shell_args: list[Word] = field(default_factory=list)  # operands after the user: the shell's arguments
    user_seen: bool = False

    def add_operand(self, word: Word) -> None:
        if word.text == "-":
            return  # su - USER: a login shell
        if self.user_seen:
            self.shell_args.append(word)
        self.user_seen = True

    def add_options(self, found: ParsedOptions) -> None:
        for key, value in found:
            if key == "c":
                self.codes.append(value)
            elif key == "s":
                self.shell = value

    def foreign_shell(self) -> Word | None:
        """The shell given with -s that runs the code, when its language is not (known to be) POSIX shell."""
        shell = self.shell
        if not (self.codes or self.shell_args) or shell is None:
            return None
        return shell if shell.unknown or not is_posix_shell(basename(shell.text)) else None


def su(
    analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool, *, runuser: bool = False
) -> None:
    """su / runuser: options anywhere (getopt permutes); -c STRING; extra operands go to the user's shell.

    ``runuser`` (bound by the registry for runuser and its suffixed names) also accepts ``-u USER COMMAND...``.
    """
    if runuser and _runuser_command(analysis, name, words, ctx, trailing):
        return
    arguments = _read_su_arguments(analysis, name, words, ctx, trailing)
    if arguments is None:
        return
    foreign = arguments.foreign_shell()
    if foreign is not None:
        analysis.doubt(ctx, f"{name} runs the command with the shell {foreign.text!r}, whose language is not parsed")
        return
    for code in arguments.codes:
        analysis.code_word(code, ctx, f"{name} -c")
    if arguments.shell_args:
        analysis.command((Word("sh"), *arguments.shell_args), ctx.wrapped(), trailing)
    elif not arguments.codes:
        if trailing:
            analysis.inner((), ctx, trailing, name)
        else:
            analysis.stdin_shell(ctx, name)


def _runuser_command(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> bool:
    """runuser -u USER [--] COMMAND... runs the command itself; True when that is the form used."""
    index, seen, certain = parse_options(words, 1, _SU_OPTIONS)
    keys = option_keys(seen)
    if certain and "u" in keys and "c" not in keys:
        analysis.inner(words[index:], ctx, trailing, name)
        return True
    return False


def _read_su_arguments(
    analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool
) -> _SuArguments | None:
    """The arguments of su; None when they are already dealt with (a doubt, guessed commands, --help)."""
    arguments = _SuArguments()
    index = 1
    while index < len(words):
        word = words[index]
        if word.text == "--":
            arguments.shell_args.extend(words[index + 1 :])
            break
        if word.unknown:
            analysis.doubt_unknown_arguments(ctx, f"the arguments of {name}", word)
            return None
        if word.text == "-" or not word.text.startswith("-"):
            arguments.add_operand(word)
            index += 1
            continue
        parsed = parse_one_option(words, index, _SU_OPTIONS)
        if parsed is None:
            analysis.suffixes(words, index, ctx, trailing)
            return None
        index, found = parsed
        arguments.add_options(found)
        if option_keys(found) & HELP_KEYS:
            return None
    return arguments


def script(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """util-linux script: -c STRING runs with $SHELL -c; without it an interactive shell."""
    code: Word | None = None
    found = False
    for index, word in enumerate(words[1:], start=1):
        arg = word.text
        if arg in ("-c", "--command") or (arg.startswith("-") and not arg.startswith("--") and arg.endswith("c")):
            code = words[index + 1] if index + 1 < len(words) else None
            found = True
        elif arg.startswith("--command="):
            code, found = Word(arg.partition("=")[2], dynamic=word.dynamic), True
        elif arg.startswith("-c") and not arg.startswith("--"):
            code, found = Word(arg[2:], dynamic=word.dynamic), True
    if found:
        analysis.code_word(code, ctx, "script -c")
    elif not trailing:
        analysis.stdin_shell(ctx, name)


def sg(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """sg [-] GROUP [-c] COMMAND: the command is a string for /bin/sh -c."""
    rest = [word for word in words[1:] if word.text != "-"]
    rest = rest[1:]  # the group
    if rest and rest[0].text == "-c":
        rest = rest[1:]
    if rest:
        analysis.code_word(joined_word(rest, dynamic=any(word.dynamic for word in rest)), ctx, name)
    elif not trailing:
        analysis.stdin_shell(ctx, name)


def capsh(analysis: Analyzer, _name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """capsh [...] -- ARGS runs /bin/bash ARGS."""
    for index, word in enumerate(words):
        if word.text == "--":
            analysis.command((Word("bash"), *words[index + 1 :]), ctx.wrapped(), trailing)
            return


def _after_double_dash(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """The arguments of a builtin, without the ``--`` that may open them."""
    args = words[1:]
    return args[1:] if args and args[0].text == "--" else args


def eval_(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """eval ARGS: the arguments joined are shell code."""
    args = _after_double_dash(words)
    if trailing or any(word.expands for word in args):
        analysis.doubt(ctx, "eval of text that is only known at run time; write the command out instead of using eval")
        return
    analysis.code_word(joined_word(args), ctx, name)


def trap(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, _trailing: bool) -> None:
    """trap CODE SIGNAL...: the code runs when the signal arrives."""
    args = _after_double_dash(words)
    if len(args) >= 2 and not args[0].text.startswith("-"):
        analysis.code_word(args[0], ctx, name)


def mapfile(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, _trailing: bool) -> None:
    """mapfile / readarray -C CALLBACK: the callback is shell code."""
    _, seen, _ = parse_options(words, 1, _MAPFILE_OPTIONS)
    for key, value in seen:
        if key == "C":
            analysis.code_word(value, ctx, f"{name} -C")


def export(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, _trailing: bool) -> None:
    """export / declare / typeset / local / readonly NAME=VALUE: the variable may carry code (PS4, BASH_ENV...)."""
    for word in words[1:]:
        text = word.text
        if text.startswith(("-", "+")) and not word.unknown:
            continue  # -x, -f, +x
        variable, eq, _ = text.partition("=")
        if word.dynamic and ("$" in variable or "`" in variable or not eq):
            analysis.doubt(
                ctx,
                f"{name} sets variables whose names are only known at run time ({text!r}), which may carry code "
                "(BASH_ENV, LD_PRELOAD, ...); name the variables literally",
            )
        elif eq:
            check_assignment(analysis, Word(text, dynamic=word.dynamic), ctx)


def alias(analysis: Analyzer, _name: str, words: tuple[Word, ...], ctx: Context, _trailing: bool) -> None:
    """alias NAME=VALUE redefines a command name."""
    if any("=" in word.text or word.unknown for word in words[1:]):
        analysis.doubt(ctx, "alias redefines what a command name runs; run the command itself instead of an alias")


def hash_(analysis: Analyzer, _name: str, words: tuple[Word, ...], ctx: Context, _trailing: bool) -> None:
    """hash -p FILE NAME redefines the file a command name runs."""
    if any(word.unknown or (word.text.startswith("-") and "p" in word.text) for word in words[1:]):
        analysis.doubt(ctx, "hash -p redefines which file a command name runs; run that file by its own name instead")


def source(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """source FILE / . FILE runs shell code from a file."""
    if len(words) > 1 or trailing:
        target = words[1].text if len(words) > 1 else "a file"
        analysis.doubt(
            ctx,
            f"`{name} {target}` runs shell code from a file, which cannot be inspected; run its commands directly",
        )
