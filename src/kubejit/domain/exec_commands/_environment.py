"""Environment variables that carry code: BASH_ENV, ENV, exported functions, prompts, PERL5OPT, LD_PRELOAD, ...

Why this exists: ``env BASH_ENV='$(rm -rf /)' bash -c true`` runs ``rm`` although no word of the command line
names it: bash expands ``BASH_ENV`` and sources the file it names before the ``-c`` string, an exported
function (``BASH_FUNC_ls%%=() { ...; }``) replaces a command name in every bash below, ``PS4`` is expanded at
each line of an xtrace, ``PROMPT_COMMAND`` runs before each prompt, and ``LD_PRELOAD``, ``PERL5OPT`` or
``NODE_OPTIONS=--require`` load code into every program of their kind. The environment is inherited, so the
program the variable is given to does not matter. For every ``NAME=VALUE`` the analysis meets -- assignments
before a command or on their own (:mod:`._analyzer`), ``env`` and ``export``/``declare``/... arguments and
``--setenv=NAME=VALUE`` options of wrappers (:mod:`._wrappers`) -- :func:`check_assignment` analyses the
value where it is shell code (the commands found count, doubts too) and otherwise records a doubt, so the
command is refused when the guardrail fails closed. Ordinary variables (``FOO=bar cmd``) are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands._words import Context, Word

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer

_PROMPTS = frozenset(
    {"PS0", "PS1", "PS2", "PS3", "PS4", "PROMPT", "PROMPT2", "PROMPT3", "PROMPT4", "RPROMPT", "RPROMPT2", "RPS1",
     "RPS2"}
)  # fmt: skip
"""Prompt strings: expanded like double-quoted text (bash promptvars, zsh PROMPT_SUBST) when they are shown."""
_SHELL_CODE = frozenset({"PROMPT_COMMAND"})
"""Shell code run before each prompt."""
_SOURCED = {
    "BASH_ENV": "bash expands it and runs the file it names before its commands",
    "ENV": "sh, dash, ksh and bash --posix expand it and run the file it names",
    "ZDOTDIR": "zsh runs the startup files of that directory",
    "FPATH": "ksh and zsh load functions from its directories under command names",
    "PYTHONSTARTUP": "interactive Python runs the file it names",
}
_CHANGES_THE_SHELL = {
    "SHELLOPTS": "it turns on shell options (such as xtrace, which expands PS4) in every bash below",
    "BASHOPTS": "it turns on bash options (such as extdebug, which runs the debugger profile) in every bash below",
}
_FOREIGN_CODE = {
    "LUA_INIT": "Lua code that lua runs at start",
    "VIMINIT": "Vim commands (which may run shell commands) run at start",
    "GVIMINIT": "Vim commands (which may run shell commands) run at start",
    "EXINIT": "ex commands (which may run shell commands) run at start",
    "PERL5OPT": "perl options; -M, -m and -d load Perl code into every perl",
    "PERL5DB": "Perl code that perl -d runs",
    "RUBYOPT": "ruby options; -r loads Ruby code into every ruby",
}
_PRELOADS = frozenset({"LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "GCONV_PATH"})
"""The dynamic loader reads these: they load shared libraries into every dynamically linked program."""
_JAVA_CODE_LOADING = re.compile(r"-javaagent|-agentlib|-agentpath|-XX:\+?On(?:Error|OutOfMemoryError)")
"""Java options that load an agent or run a command on an error: every JVM reads its three option variables."""
_CODE_LOADING_OPTIONS = {
    "NODE_OPTIONS": re.compile(r"(?:^|\s)(?:-r|--require|--import|--loader|--experimental-loader)(?:[\s=]|$)"),
    **dict.fromkeys(("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"), _JAVA_CODE_LOADING),
}
"""Option variables that are harmless unless they hold one of these code-loading options."""
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{1,3})")
_NAME_SUFFIX = re.compile(r"(?:\[[^\]]*\])?\+?$")
"""``NAME[i]=`` and ``NAME+=`` assign NAME too."""


def check_assignment(analysis: Analyzer, word: Word, ctx: Context) -> None:
    """``word`` is ``NAME=VALUE`` (from an argv, env, export, a leading assignment): look into what it carries."""
    name, _, value = word.text.partition("=")
    name = _NAME_SUFFIX.sub("", name)
    check = _check_for(name, value)
    if check is not None:
        check(analysis, name, Word(value, dynamic=word.dynamic), ctx)
    elif not word.dynamic and ("$(" in value or "`" in value):
        analysis.speculate(value, ctx)  # bash evaluates stored text in arithmetic subscripts: a[$(cmd)]


def carries_code(name: str) -> bool:
    """Whether a variable of this name may carry code whatever its value (so a value only known at run time, a
    container's ``valueFrom``, cannot be checked). Called by ``kubejit.domain.pod_commands``."""
    return _check_for(_NAME_SUFFIX.sub("", name), "") is not None


_Check = Callable[["Analyzer", str, Word, Context], None]


def _check_for(name: str, value: str) -> _Check | None:
    """How a variable's value is looked into, or None for an ordinary variable."""
    if name.startswith("BASH_FUNC_") or value.startswith("()"):
        return _function
    if name in _PROMPTS:
        return _prompt
    if name in _SHELL_CODE:
        return _shell_code
    if name in _SOURCED or name in _CHANGES_THE_SHELL or name in _FOREIGN_CODE or name.startswith("LUA_INIT_"):
        return _always_doubt
    if name in _PRELOADS:
        return _preload
    if name in _CODE_LOADING_OPTIONS:
        return _options
    if name == "PYTHONINSPECT":
        return _inspect
    return None


def _function(analysis: Analyzer, name: str, value: Word, ctx: Context) -> None:
    """An exported function (``BASH_FUNC_ls%%=() { ...; }``, or ``ls=() {...}`` for old bash): its body is code."""
    analysis.code_word(value, ctx, f"the exported function {name}")


def _shell_code(analysis: Analyzer, name: str, value: Word, ctx: Context) -> None:
    analysis.code_word(value, ctx, name)


def _prompt(analysis: Analyzer, name: str, value: Word, ctx: Context) -> None:
    """A prompt string: its substitutions run when it is shown; octal escapes (``\\044``) may spell ``$(``."""
    if value.dynamic:
        analysis.doubt(
            ctx, f"the prompt {name} is only known at run time ({value.text!r}), and prompts may run commands"
        )
        return
    decoded = _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8) & 0xFF), value.text)
    analysis.expanded_text(decoded, ctx.deeper())


def _always_doubt(analysis: Analyzer, name: str, value: Word, ctx: Context) -> None:
    """A variable whose value makes the program run code that is not on the command line."""
    if not value.text and not value.dynamic:
        return  # set to nothing: turns the feature off
    if name in _SOURCED:
        analysis.expanded_text(value.text, ctx.deeper())  # BASH_ENV and ENV are expanded: $(...) in them runs
    why = _SOURCED.get(name) or _CHANGES_THE_SHELL.get(name) or _FOREIGN_CODE.get(name) or _FOREIGN_CODE["LUA_INIT"]
    analysis.doubt(ctx, _message(name, why))


def _preload(analysis: Analyzer, name: str, value: Word, ctx: Context) -> None:
    if value.text or value.dynamic:
        analysis.doubt(
            ctx, _message(name, "the dynamic loader loads shared libraries from it into every program it starts")
        )


def _options(analysis: Analyzer, name: str, value: Word, ctx: Context) -> None:
    if value.dynamic or _CODE_LOADING_OPTIONS[name].search(value.text):
        analysis.doubt(ctx, _message(name, "it holds options that load code into every program of its kind"))


def _inspect(analysis: Analyzer, name: str, value: Word, ctx: Context) -> None:
    """PYTHONINSPECT: every python goes on reading commands from stdin after its program."""
    if value.text or value.dynamic:
        analysis.stdin_shell(ctx, f"python with {name} set")


def _message(name: str, why: str) -> str:
    return (
        f"the environment variable {name} carries code that the command patterns cannot see ({why}); "
        f"run the command without setting {name}"
    )
