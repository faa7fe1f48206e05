"""Interpreters of other languages (python, perl, node, vim, gdb, awk, ...): inline code cannot be checked.

Why this exists: ``python -c 'import os; os.system("rm -rf /")'`` runs a denied command that no pattern can
see. Inline code (``-c``, ``-e``, ``--eval``, ``+CMD``) is a doubt; a script or module file in the image is
opaque like any binary and allowed; an interpreter with neither is a REPL (interactive, or a doubt when its
stdin is fed). awk is looked into a little: its programs run commands only through ``system()``, pipes and
indirect calls. The handler registry (:mod:`._handlers`) maps the names to :func:`interpreter` and
:func:`awk`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands._program_names import program_family
from kubejit.domain.exec_commands._stdin_paths import STDIN, descriptor_of
from kubejit.domain.exec_commands._words import Context, Word

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer


@dataclass(frozen=True)
class InterpreterSpec:
    """Which arguments of an interpreter hold inline code, and which name a program to run."""

    language: str
    code_short: str = ""  # -c, -e: a cluster holding one of these runs inline code
    code_long: frozenset[str] = frozenset()  # --eval, -ex (gdb), --cmd (vim): exact words
    value_short: str = ""  # options whose value may be the next word
    module_short: str = ""  # python -m: the program is an installed module
    plus_code: bool = False  # vim +CMD
    code_operand: str = ""  # deno eval CODE


INTERPRETERS: dict[str, InterpreterSpec] = {
    "python": InterpreterSpec("Python", code_short="c", value_short="WX", module_short="m"),
    "perl": InterpreterSpec("Perl", code_short="eE", value_short="I"),
    "ruby": InterpreterSpec("Ruby", code_short="e", value_short="IrCEF"),
    "node": InterpreterSpec(
        "JavaScript", code_short="ep", code_long=frozenset({"--eval", "--print"}), value_short="rC"
    ),
    "bun": InterpreterSpec("JavaScript", code_short="ep", code_long=frozenset({"--eval", "--print"})),
    "deno": InterpreterSpec("JavaScript", code_operand="eval"),
    "php": InterpreterSpec("PHP", code_short="rBRE", value_short="cdz"),
    "lua": InterpreterSpec("Lua", code_short="e", value_short="l"),
    "R": InterpreterSpec("R", code_short="e"),
    "Rscript": InterpreterSpec("R", code_short="e"),
    "julia": InterpreterSpec("Julia", code_short="eE", code_long=frozenset({"--eval", "--print"})),
    "tclsh": InterpreterSpec("Tcl"),
    "wish": InterpreterSpec("Tcl"),
    "expect": InterpreterSpec("Tcl", code_short="c"),
    "gdb": InterpreterSpec(
        "gdb",
        code_long=frozenset({"-ex", "--ex", "-iex", "--iex", "-eval-command", "--eval-command", "-init-eval-command"}),
    ),
    "vim": InterpreterSpec("Vim script", code_short="c", code_long=frozenset({"--cmd"}), plus_code=True),
    "irb": InterpreterSpec("Ruby"),
    "jshell": InterpreterSpec("Java"),
}
INTERPRETER_ALIASES = {
    "nodejs": "node", "nvim": "vim", "vi": "vim", "view": "vim", "ex": "vim", "vimdiff": "vim", "rvim": "vim",
    "luajit": "lua", "pypy": "python",
}  # fmt: skip
"""Other names of the interpreters; versions and build suffixes are removed by :func:`program_family` first."""
AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "original-awk", "bwk-awk", "goawk", "busybox-awk"})


@dataclass(frozen=True)
class _Invocation:
    """What the arguments of an interpreter ask it to run."""

    code: str | None = None  # the argument that holds (or introduces) inline code
    has_program: bool = False  # a program file or module
    from_stdin: bool = False  # "-", /dev/stdin, /proc/self/fd/0: the program is read from stdin
    descriptor: int | None = None  # /dev/fd/3: the program is read from another open descriptor


def interpreter(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """Inline code in another language cannot be checked; a REPL is interactive; a script is opaque."""
    spec = INTERPRETERS[_interpreter_key(name)]
    invocation = _read_invocation(spec, words)
    if invocation.code is not None:
        analysis.doubt(
            ctx,
            f"`{name} {invocation.code}` runs {spec.language} code, which the command patterns cannot see into; "
            "run plain commands instead, or use a profile whose exec guardrail does not fail closed",
        )
    elif invocation.descriptor is not None:
        analysis.doubt(
            ctx,
            f"{name} reads its program from file descriptor {invocation.descriptor} (a redirect or "
            "here-document), which cannot be inspected",
        )
    elif invocation.has_program:
        return  # a program file or module in the image: opaque, like any binary
    elif trailing:
        analysis.doubt(ctx, f"{name} gets its program from its input, which cannot be inspected")
    elif invocation.from_stdin or ctx.fed or len(words) == 1 or any(word.text == "-i" for word in words[1:]):
        analysis.stdin_shell(ctx, name)


def _interpreter_key(name: str) -> str:
    """The key of :data:`INTERPRETERS` for a program name: nodejs -> node, python3.11 -> python, pypy3 -> python."""
    key = INTERPRETER_ALIASES.get(name, name)
    if key not in INTERPRETERS:
        family = program_family(key)
        key = INTERPRETER_ALIASES.get(family, family)
    return key


def _read_invocation(spec: InterpreterSpec, words: tuple[Word, ...]) -> _Invocation:
    index = 1
    while index < len(words):
        word = words[index]
        arg = word.text
        if word.unknown or _is_code_word(spec, arg):
            return _Invocation(code=arg)
        if arg == "--":
            return _program_operand(words[index + 1]) if index + 1 < len(words) else _Invocation()
        if arg == "-":
            return _Invocation(from_stdin=True)
        if arg.startswith("--"):
            index += 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            cluster = _short_cluster(spec, arg)
            if isinstance(cluster, _Invocation):
                return cluster
            index += 1 + cluster
            continue
        if spec.code_operand and arg == spec.code_operand:
            return _Invocation(code=arg)
        return _program_operand(word)
    return _Invocation()


def _program_operand(word: Word) -> _Invocation:
    """The program operand: a file in the image, or stdin and other descriptors under a file's name."""
    descriptor = None if word.expands else descriptor_of(word.text, relative=True)
    if descriptor == STDIN:
        return _Invocation(from_stdin=True)
    return _Invocation(has_program=True, descriptor=descriptor)


def _is_code_word(spec: InterpreterSpec, arg: str) -> bool:
    """An option word that holds inline code: --eval, --eval=CODE, -ex (gdb), +CMD (vim)."""
    return arg in spec.code_long or arg.partition("=")[0] in spec.code_long or (spec.plus_code and arg.startswith("+"))


def _short_cluster(spec: InterpreterSpec, arg: str) -> _Invocation | int:
    """A cluster such as ``-Bc``: what it runs, or how many following words are its option value."""
    for pos, letter in enumerate(arg[1:], start=1):
        if letter in spec.code_short:
            return _Invocation(code="-" + letter)
        if letter in spec.module_short:
            return _Invocation(has_program=True)
        if letter in spec.value_short:
            return 1 if pos == len(arg) - 1 else 0
    return 0


_AWK_LONG_WITH_VALUE = ("source", "file", "include", "exec", "load", "field-separator", "assign")
_AWK_LONG_FROM_FILE = ("file", "include", "exec", "load")
_AWK_SHORT_WITH_VALUE = "FvfEeilW"
_AWK_SHORT_FROM_FILE = "fEil"


@dataclass
class _AwkArguments:
    """The awk programs given inline, and whether one comes from a file."""

    programs: list[Word] = field(default_factory=list)
    from_file: bool = False

    def long_option(self, words: tuple[Word, ...], index: int) -> int:
        """``--source=TEXT``, ``--file FILE``, ...: returns the index after it (and its value)."""
        word = words[index]
        option, eq, attached = word.text[2:].partition("=")
        if option == "source":
            self.programs.append(Word(attached, dynamic=word.dynamic) if eq else words[min(index + 1, len(words) - 1)])
        elif option in _AWK_LONG_FROM_FILE:
            self.from_file = True
        if not eq and option in _AWK_LONG_WITH_VALUE:
            index += 1
        return index + 1

    def short_option(self, words: tuple[Word, ...], index: int) -> int:
        """``-e TEXT``, ``-f FILE``, ``-F:``, ...: returns the index after it (and its value)."""
        word = words[index]
        flag, attached = word.text[1], word.text[2:]
        value: Word | None = Word(attached, dynamic=word.dynamic)
        if flag in _AWK_SHORT_WITH_VALUE and not attached:
            index += 1
            value = words[index] if index < len(words) else None
        if flag == "e" and value is not None:
            self.programs.append(value)
        elif flag in _AWK_SHORT_FROM_FILE:
            self.from_file = True
        return index + 1


def awk(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """awk can run commands only through system(), pipes (| or |&) and gawk's indirect calls (@)."""
    arguments = _AwkArguments()
    index = _read_awk_options(arguments, words)
    programs = arguments.programs
    if not programs and not arguments.from_file:
        if index < len(words):
            programs.append(words[index])
        elif trailing:
            analysis.doubt(ctx, f"the {name} program comes from its input, which cannot be inspected")
    if any(_may_run_commands(program) for program in programs):
        analysis.doubt(
            ctx,
            f"the {name} program may run commands (system(), a pipe '|' or an indirect call '@'), "
            "which the command patterns cannot see into; a '|' inside a regular expression counts too",
        )


def _read_awk_options(arguments: _AwkArguments, words: tuple[Word, ...]) -> int:
    """Reads the options into ``arguments``; returns where the operands start."""
    index = 1
    while index < len(words):
        text = words[index].text
        if text == "--":
            return index + 1
        if text.startswith("--"):
            index = arguments.long_option(words, index)
        elif text.startswith("-") and len(text) > 1:
            index = arguments.short_option(words, index)
        else:
            break
    return index


def _may_run_commands(program: Word) -> bool:
    text = program.text
    return program.dynamic or "system" in text or "|" in text.replace("||", "") or "@" in text
