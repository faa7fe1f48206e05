"""Wrappers: programs that run another program given in their arguments (sudo, env, nice, timeout, xargs, ...).

Why this exists: ``sudo env -i nice -n 5 rm -rf /`` runs ``rm``. For each wrapper the command is found by the
wrapper's own option syntax (a :class:`WrapperSpec` in :data:`WRAPPERS`, or a handler of its own such as
:func:`env` or :func:`xargs`) and handed back to the analysis as a command of its own. Loosely known wrappers
(:data:`LOOSE_WRAPPERS`), and known ones given an option this table does not know, have every operand position
tried as the start of the command. The handler registry (:mod:`._handlers`) maps program names to these.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands._environment import check_assignment
from kubejit.domain.exec_commands._option_specs import (
    HELP_KEYS,
    OptionSpec,
    ParsedOptions,
    long_options,
    option_keys,
    parse_options,
)
from kubejit.domain.exec_commands._words import Context, Word

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer


@dataclass(frozen=True)
class WrapperSpec:
    """How a plain wrapper finds its command: after its options and a fixed number of operands."""

    options: OptionSpec
    operands: int = 0  # operands before the command (timeout DURATION, chroot DIR)
    no_command: frozenset[str] = frozenset()  # options after which nothing is run (command -v, ionice -p)
    shell_if_empty: bool = False  # without a command it starts an interactive shell
    shell_keys: frozenset[str] = frozenset()  # ... or only with these options (sudo -s / -i)
    sets_variables: bool = False  # NAME=VALUE words before the command set its environment (sudo)


WRAPPERS: dict[str, WrapperSpec] = {
    "nice": WrapperSpec(OptionSpec(short_val="n", long=long_options("adjustment:n="), numeric=True)),
    "nohup": WrapperSpec(OptionSpec()),
    "builtin": WrapperSpec(OptionSpec()),
    "noglob": WrapperSpec(OptionSpec()),
    "nocorrect": WrapperSpec(OptionSpec()),
    "catchsegv": WrapperSpec(OptionSpec()),
    "exec": WrapperSpec(OptionSpec(short_val="a", short_flag="cl")),
    "command": WrapperSpec(OptionSpec(short_flag="pvV"), no_command=frozenset({"v", "V"})),
    "timeout": WrapperSpec(
        OptionSpec(
            short_val="ks",
            short_flag="v",
            long=long_options("kill-after:k= signal:s= preserve-status:p foreground:f verbose:v"),
        ),
        operands=1,
    ),
    "stdbuf": WrapperSpec(OptionSpec(short_val="ioe", long=long_options("input:i= output:o= error:e="))),
    "ionice": WrapperSpec(
        OptionSpec(
            short_val="cnpPu",
            short_flag="t",
            long=long_options("class:c= classdata:n= pid:p= pgid:P= uid:u= ignore:t"),
        ),
        no_command=frozenset({"p", "P", "u"}),
    ),
    "setsid": WrapperSpec(OptionSpec(short_flag="cfw", long=long_options("ctty:c fork:f wait:w"))),
    "time": WrapperSpec(
        OptionSpec(
            short_val="fo",
            short_flag="apqv",
            long=long_options("format:f= output:o= append:a portability:p verbose:v quiet:q"),
        )
    ),
    "chroot": WrapperSpec(
        OptionSpec(long=long_options("userspec:u= groups:g= skip-chdir:s")),
        operands=1,
        shell_if_empty=True,
    ),
    "gosu": WrapperSpec(OptionSpec(), operands=1),
    "su-exec": WrapperSpec(OptionSpec(), operands=1),
    "s6-setuidgid": WrapperSpec(OptionSpec(), operands=1),
    "taskset": WrapperSpec(
        OptionSpec(short_flag="acp", long=long_options("all-tasks:a cpu-list:c pid:p")),
        operands=1,
        no_command=frozenset({"p"}),
    ),
    "chrt": WrapperSpec(
        OptionSpec(
            short_val="TPD",
            short_flag="abdefimoprRv",
            long=long_options(
                "sched-runtime:T= sched-period:P= sched-deadline:D= pid:p max:m all-tasks:a batch:b deadline:d "
                "fifo:f idle:i other:o rr:r reset-on-fork:R verbose:v"
            ),
        ),
        operands=1,
        no_command=frozenset({"p", "m"}),
    ),
    "sudo": WrapperSpec(
        OptionSpec(
            short_val="CDgprRtTuU",
            short_flag="AbBEeHhiKklnNPSsVv",
            long=long_options(
                "askpass:A background:b bell:B close-from:C= chdir:D= preserve-env:E? edit:e group:g= set-home:H "
                "login:i remove-timestamp:K reset-timestamp:k list:l non-interactive:n preserve-groups:P "
                "prompt:p= chroot:R= role:r= stdin:S shell:s type:t= command-timeout:T= other-user:U= user:u= "
                "validate:v host:host="
            ),
        ),
        no_command=frozenset({"e", "l", "v", "V", "K"}),
        shell_keys=frozenset({"s", "i"}),
        sets_variables=True,
    ),
    "doas": WrapperSpec(
        OptionSpec(short_val="Cu", short_flag="Lns"), no_command=frozenset({"L"}), shell_keys=frozenset({"s"})
    ),
    "pkexec": WrapperSpec(
        OptionSpec(long=long_options("user:u= disable-internal-agent:d keep-cwd:k")),
        shell_if_empty=True,
    ),
    "tini": WrapperSpec(OptionSpec(short_val="ep", short_flag="hsvwgl")),
    "dumb-init": WrapperSpec(
        OptionSpec(short_val="r", short_flag="cvV", long=long_options("single-child:c rewrite:r= verbose:v"))
    ),
    "nsenter": WrapperSpec(
        OptionSpec(
            short_val="tSG",
            short_opt="muinpUCTrw",
            short_flag="aFeZ",
            long=long_options(
                "target:t= mount:m? uts:u? ipc:i? net:n? pid:p? cgroup:C? user:U? time:T? setuid:S= setgid:G= "
                "root:r? wd:w? all:a no-fork:F preserve-credentials:pc follow-context:Z env:e keep-caps:kc "
                "user-parent:up join-cgroup:jc wdns:wdns="
            ),
        ),
        shell_if_empty=True,
    ),
    "unshare": WrapperSpec(
        OptionSpec(
            short_val="RwSGl",
            short_opt="muinpUCT",
            short_flag="fcrk",
            long=long_options(
                "mount:m? uts:u? ipc:i? net:n? pid:p? user:U? cgroup:C? time:T? fork:f kill-child:kc? "
                "mount-proc:mp? mount-binfmt:mb? map-root-user:r map-current-user:c map-user:mu= map-group:mg= "
                "map-users:mus= map-groups:mgs= map-auto:ma propagation:pr= setgroups:sg= root:R= wd:w= setuid:S= "
                "setgid:G= monotonic:mo= boottime:bt= keep-caps:kp load-interp:l="
            ),
        ),
        shell_if_empty=True,
    ),
}

LOOSE_WRAPPERS = frozenset(
    {
        "strace", "ltrace", "valgrind", "prlimit", "systemd-run", "firejail", "bwrap", "setpriv", "chpst",
        "cgexec", "numactl", "xvfb-run", "faketime", "torsocks", "proxychains", "proxychains4", "unbuffer",
        "fakeroot", "fakechroot", "daemonize", "start-stop-daemon", "runcon", "nocache", "dbus-run-session",
        "s6-envuidgid", "setuidgid", "envuidgid", "softlimit", "setlock", "with-contenv", "perf", "ssh-agent",
        "eatmydata", "schedtool", "cpulimit", "trickle", "minijail0", "sandbox",
    }
)  # fmt: skip


_ENV_OPTIONS = OptionSpec(
    short_val="uCSa",
    short_flag="i0v",
    long=long_options(
        "ignore-environment:i null:0 unset:u= chdir:C= split-string:S= block-signal:bs? "
        "default-signal:ds? ignore-signal:is? list-signal-handling:ls debug:v argv0:a="
    ),
)
_XARGS_OPTIONS = OptionSpec(
    short_val="adEILnPs",
    short_opt="eil",
    short_flag="0oprtx",
    long=long_options(
        "arg-file:a= delimiter:d= eof:e? replace:i? max-lines:l? max-args:n= max-procs:P= max-chars:s= "
        "process-slot-var:psv= null:0 open-tty:o interactive:p no-run-if-empty:r verbose:t exit:x "
        "show-limits:sl"
    ),
)


def options_or_guess(
    analysis: Analyzer, words: Sequence[Word], spec: OptionSpec, ctx: Context, trailing: bool
) -> tuple[int, ParsedOptions] | None:
    """The options of ``words[0]`` and where its operands start; None when an option is not known.

    Then the command may start at any operand, and each is tried (:meth:`Analyzer.suffixes`).
    """
    index, seen, certain = parse_options(words, 1, spec)
    if not certain:
        analysis.suffixes(words, index, ctx, trailing)
        return None
    return index, seen


def options_unless_help(
    analysis: Analyzer, words: Sequence[Word], spec: OptionSpec, ctx: Context, trailing: bool
) -> tuple[int, ParsedOptions] | None:
    """Like :func:`options_or_guess`, and None also after ``--help`` or ``--version``, which run nothing."""
    parsed = options_or_guess(analysis, words, spec, ctx, trailing)
    if parsed is None or option_keys(parsed[1]) & HELP_KEYS:
        return None
    return parsed


def wrapper(
    analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool, *, spec: WrapperSpec
) -> None:
    """A wrapper of :data:`WRAPPERS` (``spec``, bound by the registry): options, fixed operands, the command."""
    if (parsed := options_unless_help(analysis, words, spec.options, ctx, trailing)) is None:
        return
    index, seen = parsed
    keys = option_keys(seen)
    if keys & spec.no_command:
        return
    rest = words[index + spec.operands :]
    if spec.sets_variables:
        rest = _variables_set(analysis, rest, ctx)
    if not rest and not trailing and (spec.shell_if_empty or keys & spec.shell_keys):
        analysis.stdin_shell(ctx, name)
        return
    analysis.inner(rest, ctx, trailing, name)


def _variables_set(analysis: Analyzer, words: tuple[Word, ...], ctx: Context) -> tuple[Word, ...]:
    """The words after the leading ``NAME=VALUE`` ones (any word with ``=``, as sudo reads them), each checked."""
    index = 0
    while index < len(words) and "=" in words[index].text and not words[index].unknown:
        check_assignment(analysis, words[index], ctx)
        index += 1
    return words[index:]


def loose(analysis: Analyzer, _name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """A loosely known wrapper: every operand may start the command; ``--setenv=NAME=VALUE`` sets a variable."""
    for word in words[1:]:
        option, eq, assignment = word.text.partition("=")
        if eq and option.startswith("-") and "=" in assignment:
            check_assignment(analysis, Word(assignment, dynamic=word.dynamic), ctx)
    analysis.suffixes(words, 1, ctx, trailing)


def env(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """env [OPTIONS] [-] [NAME=VALUE...] [COMMAND...]; ``-S STRING`` is split into words read in its place."""
    if (parsed := options_unless_help(analysis, words, _ENV_OPTIONS, ctx, trailing)) is None:
        return
    index, seen = parsed
    split = [word for key, value in seen if key == "S" and value is not None for word in _split_string(analysis, value)]
    if split:  # env -S '-i A=1 cmd' x is env -i A=1 cmd x: its options and assignments count as env's own
        env(analysis, name, (words[0], *split, *words[index:]), ctx, trailing)
        return
    while index < len(words) and (words[index].text == "-" or "=" in words[index].text):
        if words[index].text != "-":  # "-" is -i; NAME=VALUE sets a variable, which may carry code
            check_assignment(analysis, words[index], ctx)
        index += 1
    analysis.inner(words[index:], ctx, trailing, name)


def _split_string(analysis: Analyzer, value: Word) -> list[Word]:
    """The words of ``env -S STRING``; a ``$`` in one may expand when env runs it."""
    analysis.spend(len(value.text))
    try:
        parts = shlex.split(value.text)
    except ValueError:
        parts = value.text.split()
    return [
        Word(part, dynamic=value.dynamic or "$" in part, unknown=value.dynamic or "$" in part, assign="=" in part)
        for part in parts
    ]


def multicall(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """busybox / toybox APPLET ARGS."""
    if len(words) > 1 and words[1].text.startswith("-") and not words[1].unknown:
        return  # --list, --install, --help
    analysis.inner(words[1:], ctx, trailing, name)


def coproc(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, trailing: bool) -> None:
    """coproc [NAME] COMMAND, or coproc NAME { ...; }."""
    rest = words[1:]
    if len(rest) >= 2 and not rest[1].quoted and rest[1].text == "{":
        rest = rest[2:]  # coproc NAME { ...; }
    analysis.inner(rest, ctx, trailing, name)


def xargs(analysis: Analyzer, name: str, words: tuple[Word, ...], ctx: Context, _trailing: bool) -> None:
    """xargs [OPTIONS] COMMAND...: its input is appended, or replaces the -I string."""
    if (parsed := options_unless_help(analysis, words, _XARGS_OPTIONS, ctx, True)) is None:
        return
    index, seen = parsed
    replace_str: str | None = None
    for key, value in seen:
        if key == "I":
            replace_str = value.text if value is not None and not value.unknown else ""
        elif key == "i":
            replace_str = value.text if value is not None and value.text else "{}"
    rest = words[index:]
    if not rest:
        return  # runs echo
    if replace_str is None:
        analysis.inner(rest, ctx, True, name)
        return
    marked = tuple(replace(word, dynamic=True, unknown=True) if replace_str in word.text else word for word in rest)
    analysis.inner(marked, ctx, False, name)


_FIND_ACTIONS = ("-exec", "-execdir", "-ok", "-okdir")


def find(analysis: Analyzer, _name: str, words: tuple[Word, ...], ctx: Context, _trailing: bool) -> None:
    """find ... -exec COMMAND... ; (or +): each action runs a command."""
    index, size = 1, len(words)
    while index < size:
        if words[index].text not in _FIND_ACTIONS:
            index += 1
            continue
        end = index + 1
        while end < size and not (words[end].text == ";" or (words[end].text == "+" and words[end - 1].text == "{}")):
            end += 1
        # {} is the path of a found file: it starts with the starting point, never with "-",
        # but as the program it is whatever file was found.
        inner = words[index + 1 : end]
        if inner and "{}" in inner[0].text:
            inner = (replace(inner[0], dynamic=True, unknown=True), *inner[1:])
        analysis.inner(inner, ctx, False, "find -exec")
        index = end + 1
