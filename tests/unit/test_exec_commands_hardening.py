"""The exec check against code hidden in the environment and stdin, odd interpreter names, and huge input.

Issue 10, items 4 and 6: ``env BASH_ENV=... bash``, exported functions, prompts and friends are code; script
operands that are stdin are interactive sessions; ``python3.13`` and ``bash-static`` are python and bash; and
no command line, however large or nested, makes the analysis run long (a byte and argument cap, and a
deterministic step budget). The properties generate the variants; the tables pin the reasons.
"""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubejit.domain.exec_commands import (
    INTERACTIVE_REASON,
    MAX_ARGV_BYTES,
    MAX_ARGV_WORDS,
    MAX_STEPS,
    ExecVerdict,
    check_exec,
    parse_pattern,
)
from kubejit.domain.exec_commands._analyzer import analyze
from kubejit.domain.exec_commands._handlers import handler_for
from kubejit.domain.exec_commands._interpreters import INTERPRETERS
from kubejit.domain.exec_commands._program_names import program_family
from kubejit.domain.exec_commands._shells import POSIX_SHELLS
from kubejit.domain.exec_commands._stdin_paths import descriptor_of
from tests.unit.test_exec_commands import PATTERNS

CANNOT_CHECK = "this exec command cannot be checked against the denied commands: "

DANGEROUS = [("rm -rf /", "rm -rf"), ("mkfs.ext4 /dev/sda", "mkfs"), ("dd of=/dev/sda", "dd"), ("reboot", "reboot")]


def _refused(verdict: ExecVerdict, pattern: str | None = None) -> bool:
    """Denied by the pattern, or (when ``pattern`` is None or no match was possible) unresolvable."""
    if verdict.allowed:
        return False
    return verdict.pattern == pattern or verdict.reason.startswith(CANNOT_CHECK)


# ------------------------------------------------------------------------------------- environment: tables

ENV_DENIED: list[tuple[list[str], str]] = [
    (["env", "BASH_ENV=$(rm -rf /)", "bash", "-c", "true"], "rm -rf"),  # bash expands BASH_ENV
    (["env", "ENV=`rm -rf /`", "sh", "-i"], "rm -rf"),
    (["env", "BASH_FUNC_ls%%=() { rm -rf /; }", "bash", "-c", "ls"], "rm -rf"),
    (["env", "BASH_FUNC_ls()=() { rm -rf /; }", "bash", "-c", "ls"], "rm -rf"),
    (["env", "ls=() { rm -rf /; }", "bash", "-c", "ls"], "rm -rf"),  # pre-2014 bash imported any "() {"
    (["env", "PS4=$(rm -rf /)", "bash", "-xc", "true"], "rm -rf"),
    (["env", "SHELLOPTS=xtrace", "PS4=$(rm -rf /)", "bash", "-c", "true"], "rm -rf"),
    (["env", "PROMPT_COMMAND=rm -rf /", "bash", "-i"], "rm -rf"),
    (["env", "PS0=$(rm -rf /)", "bash", "-i"], "rm -rf"),
    (["env", r"PS1=\044(rm -rf /)", "bash", "-i"], "rm -rf"),  # the octal escape spells $
    (["env", "x=a[$(rm -rf /)]", "bash", "-c", "echo $((x))"], "rm -rf"),  # evaluated as a subscript
    (["env", "-S", "X=1 rm -rf /"], "rm -rf"),  # env -S words are env's own: assignments, then the command
    (["env", "-S", "-i PS4=$(rm${IFS}-rf) rm -rf", "/"], "rm -rf"),
    (["sh", "-c", "BASH_ENV='$(rm -rf /)' bash -c true"], "rm -rf"),
    (["sh", "-c", 'PS4="\\$(rm -rf /)"; set -x; true'], "rm -rf"),  # the current shell's own xtrace
    (["sh", "-c", 'export PROMPT_COMMAND="rm -rf /"; bash -i'], "rm -rf"),
    (["sh", "-c", "declare -x PS4='$(mkfs.ext4 /dev/sda)'; set -x; :"], "mkfs"),
    (["sudo", "PROMPT_COMMAND=reboot", "bash", "-i"], "reboot"),
    (["su", "-c", "env 'BASH_FUNC_cd%%=() { dd of=/dev/sda; }' bash -c cd"], "dd"),
]

ENV_UNRESOLVABLE: list[list[str]] = [
    ["env", "BASH_ENV=/tmp/x", "bash", "-c", "true"],
    ["env", "ENV=/tmp/x", "sh", "-c", "true"],
    ["sh", "-c", "BASH_ENV=/tmp/x bash -c true"],
    ["BASH_ENV=/tmp/x", "bash", "-c", "true"],
    ["sh", "-c", "export BASH_ENV=/tmp/x; bash -c true"],
    ["sh", "-c", "BASH_ENV=/tmp/x; export BASH_ENV; bash -c true"],
    ["sh", "-c", "typeset -x ENV=/tmp/x; sh -i"],
    ["sh", "-c", "export $(cat .env); bash -c true"],  # the names are only known at run time
    ["env", "SHELLOPTS=xtrace", "bash", "-c", "true"],
    ["env", "BASHOPTS=extdebug", "bash", "-c", "true"],
    ["env", "ZDOTDIR=/tmp", "zsh", "-c", "true"],
    ["sh", "-c", "PS4=$X bash -xc true"],  # a prompt only known at run time
    ["env", "-S", "BASH_ENV=/tmp/x bash -c true"],
    ["sudo", "BASH_ENV=/tmp/x", "bash", "-c", "true"],
    ["nice", "env", "LD_PRELOAD=/tmp/x.so", "ls"],
    ["env", "LD_LIBRARY_PATH=/tmp", "ls"],
    ["env", "LD_AUDIT=/tmp/a.so", "ls"],
    ["systemd-run", "--setenv=LD_PRELOAD=/tmp/x.so", "ls"],
    ["env", "PERL5OPT=-Mstrict;system(q{rm})", "perl", "app.pl"],
    ["env", "RUBYOPT=-r/tmp/x", "ruby", "app.rb"],
    ["env", "NODE_OPTIONS=--require /tmp/x.js", "node", "app.js"],
    ["env", "NODE_OPTIONS=--import=data:text/javascript,1", "node", "app.js"],
    ["env", "LUA_INIT=os.execute('rm -rf /')", "lua", "app.lua"],
    ["env", "LUA_INIT_5_4=os.execute('x')", "lua", "app.lua"],
    ["env", "VIMINIT=:!rm -rf /", "vim", "file"],
    ["env", "JAVA_TOOL_OPTIONS=-javaagent:/tmp/a.jar", "java", "-jar", "app.jar"],
    ["env", "PYTHONSTARTUP=/tmp/x.py", "python3"],
]

ENV_ALLOWED: list[list[str]] = [
    ["env", "FOO=bar", "ls"],
    ["env", "PATH=/usr/bin", "LANG=C", "TERM=xterm", "ls"],
    ["env", "BASH_ENV=", "bash", "-c", "true"],  # empty: the feature is off
    ["env", "NODE_OPTIONS=--max-old-space-size=4096", "node", "app.js"],
    ["env", "JAVA_TOOL_OPTIONS=-Xmx512m", "java", "-jar", "app.jar"],
    ["env", "PS4=+ $BASH_SOURCE:$LINENO: ", "bash", "-xc", "true"],  # variables in a prompt are not re-read
    ["env", "BASH_FUNC_greet%%=() { echo hi; }", "bash", "-c", "greet"],  # the function body is checked
    ["sh", "-c", "FOO=bar ls"],
    ["sh", "-c", "export PATH=$PATH:/opt/bin; ls"],
    ["sh", "-c", "local x=1; readonly y=2; declare -i z=3"],
    ["sh", "-c", "BASH_XTRACEFD=2 bash -xc true"],  # a descriptor number is no code
]


@pytest.mark.parametrize(("argv", "pattern"), ENV_DENIED, ids=[" ".join(a)[:60] for a, _ in ENV_DENIED])
def test_code_in_the_environment_is_found(argv: list[str], pattern: str) -> None:
    verdict = check_exec(argv, PATTERNS)
    assert not verdict.allowed, verdict.reason
    assert verdict.pattern == pattern, verdict.reason


@pytest.mark.parametrize("argv", ENV_UNRESOLVABLE, ids=[" ".join(a)[:60] for a in ENV_UNRESOLVABLE])
def test_code_in_the_environment_that_cannot_be_seen_cannot_be_checked(argv: list[str]) -> None:
    verdict = check_exec(argv, PATTERNS)
    assert not verdict.allowed, verdict.reason
    assert verdict.reason.startswith(CANNOT_CHECK), verdict.reason
    assert check_exec(argv, PATTERNS, fail_closed=False).allowed


@pytest.mark.parametrize("argv", ENV_ALLOWED, ids=[" ".join(a)[:60] for a in ENV_ALLOWED])
def test_ordinary_variables_are_unaffected(argv: list[str]) -> None:
    assert check_exec(argv, PATTERNS) == ExecVerdict(True, "no denied exec command pattern matches")


def test_the_reason_names_the_variable_and_what_to_do() -> None:
    verdict = check_exec(["env", "BASH_ENV=/tmp/x", "bash", "-c", "true"], PATTERNS)
    assert "the environment variable BASH_ENV carries code" in verdict.reason
    assert "run the command without setting BASH_ENV" in verdict.reason


def test_pythoninspect_makes_python_interactive() -> None:
    verdict = check_exec(["env", "PYTHONINSPECT=1", "python3", "app.py"], PATTERNS)
    assert verdict.allowed
    assert verdict.interactive


# --------------------------------------------------------------------------------- environment: properties

SHELL_CODE_CARRIERS = [
    ("BASH_ENV", "$({})"),
    ("ENV", "$({})"),
    ("BASH_FUNC_ls%%", "() {{ {}; }}"),
    ("BASH_FUNC_true()", "() {{ {}; }}"),
    ("PS4", "$({})"),
    ("PS0", "`{}`"),
    ("PS1", "$({})"),
    ("PROMPT_COMMAND", "{}"),
    ("PROMPT_COMMAND", "true; {}"),
]
OPAQUE_CARRIERS = [
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "ZDOTDIR", "FPATH", "LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH",
    "GCONV_PATH", "PERL5OPT", "PERL5DB", "RUBYOPT", "LUA_INIT", "VIMINIT", "EXINIT", "PYTHONSTARTUP",
]  # fmt: skip


def _carry(form: str, assignment: str) -> list[str]:
    """``NAME=VALUE`` given to ``bash -c true`` in one of the ways an exec command can set a variable."""
    name, _, value = assignment.partition("=")
    quoted = shlex.quote(assignment)
    if not name.isidentifier() and form in ("leading", "export"):
        form = "env in sh"  # BASH_FUNC_ls%% is no shell variable name: only env can set it
    return {
        "env": ["env", assignment, "bash", "-c", "true"],
        "env -i": ["env", "-i", assignment, "bash", "-c", "true"],
        "leading": ["sh", "-c", f"{name}={shlex.quote(value)} bash -c true"],
        "export": ["sh", "-c", f"export {name}={shlex.quote(value)}; bash -c true"],
        "env in sh": ["sh", "-c", f"env {quoted} bash -c true"],
        "sudo": ["sudo", assignment, "bash", "-c", "true"],
        "sudo env": ["sudo", "-u", "root", "env", assignment, "bash", "-c", "true"],
        "env -S": ["env", "-S", f"{quoted} bash -c true"],
    }[form]


FORMS = ["env", "env -i", "leading", "export", "env in sh", "sudo", "sudo env", "env -S"]


@given(st.sampled_from(DANGEROUS), st.sampled_from(SHELL_CODE_CARRIERS), st.sampled_from(FORMS))
def test_a_denied_command_in_a_code_carrying_variable_is_refused(
    dangerous: tuple[str, str], carrier: tuple[str, str], form: str
) -> None:
    command, pattern = dangerous
    name, template = carrier
    argv = _carry(form, f"{name}={template.format(command)}")
    verdict = check_exec(argv, PATTERNS)
    assert _refused(verdict, pattern), (argv, verdict.reason)


@given(
    st.sampled_from(OPAQUE_CARRIERS),
    st.sampled_from(["/srv/x", "xtrace", "-Mstrict", "/opt/lib", "a"]),
    st.sampled_from(FORMS),
)
def test_a_variable_that_loads_unseen_code_cannot_be_checked(name: str, value: str, form: str) -> None:
    verdict = check_exec(_carry(form, f"{name}={value}"), PATTERNS)
    assert not verdict.allowed
    assert verdict.reason.startswith(CANNOT_CHECK)


ORDINARY_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True).filter(
    lambda name: (
        name not in OPAQUE_CARRIERS
        and not name.startswith(("BASH_FUNC_", "LUA_INIT", "PS", "PROMPT", "RPROMPT", "RPS"))
        and name not in ("NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "PYTHONINSPECT")
    )
)


@given(ORDINARY_NAMES, st.from_regex(r"[a-z0-9/._:-]{0,20}", fullmatch=True), st.sampled_from(FORMS))
def test_ordinary_assignments_stay_allowed(name: str, value: str, form: str) -> None:
    verdict = check_exec(_carry(form, f"{name}={value}"), PATTERNS)
    assert verdict.allowed, verdict.reason


# ------------------------------------------------------------------------------------------------ stdin

STDIN_SPELLINGS = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/proc/1/fd/0", "/proc/thread-self/fd/0",
                   "//dev/./stdin", "/dev/../dev/fd/0", "/proc/self/task/7/fd/0", "/dev/tty"]  # fmt: skip
STDIN_USERS = [["bash"], ["sh"], ["/bin/dash"], ["bash", "--norc"], ["busybox", "sh"], ["python3"], ["perl"],
               ["node"], ["ruby"], ["php"], ["python3", "-u"], ["python3", "--"]]  # fmt: skip


@given(st.sampled_from(STDIN_USERS), st.sampled_from(STDIN_SPELLINGS), st.booleans())
def test_a_script_operand_that_is_stdin_is_an_interactive_session(
    program: list[str], spelling: str, with_args: bool
) -> None:
    argv = [*program, spelling, *(["arg"] if with_args else [])]
    verdict = check_exec(argv, PATTERNS)
    assert verdict.allowed
    assert verdict.interactive, verdict.reason
    assert verdict.reason.startswith(INTERACTIVE_REASON)


@pytest.mark.parametrize("program", ["python3", "perl", "node", "ruby"])
def test_dash_is_stdin_for_interpreters(program: str) -> None:
    assert check_exec([program, "-"], PATTERNS).interactive


@given(st.sampled_from(STDIN_USERS), st.sampled_from(STDIN_SPELLINGS))
def test_stdin_fed_by_a_pipe_cannot_be_checked(program: list[str], spelling: str) -> None:
    text = "echo 'rm -rf /' | " + " ".join([*program, spelling])
    verdict = check_exec(["sh", "-c", text], PATTERNS)
    assert not verdict.allowed
    assert verdict.reason.startswith(CANNOT_CHECK)


def test_a_program_read_from_another_descriptor_cannot_be_checked() -> None:
    verdict = check_exec(["sh", "-c", "python3 /dev/fd/3 3<<'EOF'\nimport os\nEOF"], PATTERNS)
    assert not verdict.allowed
    assert "reads its program from file descriptor 3" in verdict.reason


def test_descriptor_paths() -> None:
    assert descriptor_of("/dev/stdin") == 0
    assert descriptor_of("/proc/42/fd/0") == 0
    assert descriptor_of("/dev/fd/3") == 3
    assert descriptor_of("/dev/stdout.txt") is None
    assert descriptor_of("stdin") is None  # a shell script named stdin in the working directory
    assert descriptor_of("stdin", relative=True) == 0  # for interpreters the stricter reading
    assert descriptor_of("/app/fd/0") is None


def test_a_shell_script_named_like_stdin_is_still_a_script() -> None:
    assert check_exec(["sh", "./stdin"], PATTERNS).reason.startswith(CANNOT_CHECK)


# ------------------------------------------------------------------------------------------------ names

FAMILY_SUFFIXES = st.sampled_from(["", "3", "3.13", "3.11", "5.36", "8.2", "-5.2", "5.2", "2.7.18", "3.13t"]).flatmap(
    lambda version: st.sampled_from(["", "-static", "-dbg", "-cli", ".real", "-static-dbg"]).map(
        lambda build: version + build
    )
)


@given(st.sampled_from(sorted({*INTERPRETERS, *POSIX_SHELLS, "busybox", "pypy", "nodejs"})), FAMILY_SUFFIXES)
def test_versions_and_build_suffixes_of_every_known_program_are_recognised(name: str, suffix: str) -> None:
    assert handler_for(name + suffix) is handler_for(name)
    assert handler_for(f"/usr/local/bin/{name}{suffix}".rsplit("/", 1)[-1]) is not None


@given(st.sampled_from(sorted(INTERPRETERS)), FAMILY_SUFFIXES)
def test_a_versioned_interpreter_with_inline_code_cannot_be_checked(name: str, suffix: str) -> None:
    spec = INTERPRETERS[name]
    if not spec.code_short:
        return  # gdb, tclsh, ...: no short code option
    verdict = check_exec([f"/usr/bin/{name}{suffix}", f"-{spec.code_short[0]}", "x"], PATTERNS)
    assert verdict.reason.startswith(CANNOT_CHECK), verdict.reason


@given(st.sampled_from(sorted(POSIX_SHELLS)), FAMILY_SUFFIXES, st.sampled_from(DANGEROUS))
def test_a_versioned_shell_is_looked_into(name: str, suffix: str, dangerous: tuple[str, str]) -> None:
    command, pattern = dangerous
    assert check_exec([name + suffix, "-c", command], PATTERNS).pattern == pattern
    assert check_exec(["su", "-s", f"/bin/{name}{suffix}", "-c", command], PATTERNS).pattern == pattern


SUFFIXED_WRAPPERS = [
    ["sudo.real", "rm", "-rf", "/"],
    ["nice.real", "rm", "-rf", "/"],
    ["timeout-static", "5", "rm", "-rf", "/"],
    ["runuser.real", "-u", "x", "--", "rm", "-rf", "/"],
]


@pytest.mark.parametrize("fail_closed", [False, True])
@pytest.mark.parametrize("argv", SUFFIXED_WRAPPERS, ids=" ".join)
def test_a_wrapper_with_a_build_suffix_is_read_as_the_wrapper(argv: list[str], fail_closed: bool) -> None:
    verdict = check_exec(argv, [parse_pattern("rm -rf")], fail_closed=fail_closed)
    assert not verdict.allowed
    assert verdict.pattern == "rm -rf"
    assert verdict.command == ("rm", "-rf", "/")


@pytest.mark.parametrize(
    ("name", "family"),
    [("python3.13", "python"), ("python3.11-dbg", "python"), ("pypy3", "pypy"), ("bash-static", "bash"),
     ("bash5.2", "bash"), ("busybox-static", "busybox"), ("perl5.36", "perl"), ("ruby3.2", "ruby"),
     ("php8.2-cli", "php"), ("ksh93", "ksh"), ("ls", "ls"), ("3.11", "3.11")],
)  # fmt: skip
def test_program_family(name: str, family: str) -> None:
    assert program_family(name) == family


# ------------------------------------------------------------------------------------------------- caps


def test_the_byte_cap_counts_utf8_bytes_and_terminators() -> None:
    wide = "é" * (MAX_ARGV_BYTES // 2)  # fewer characters than the cap, more bytes
    verdict = check_exec(["sh", "-c", wide], PATTERNS)
    assert not verdict.allowed
    assert f"more than the {MAX_ARGV_BYTES} that are checked" in verdict.reason
    empties = ["ls", *[""] * (MAX_ARGV_WORDS - 1)]  # every argument costs its NUL
    assert check_exec(empties, PATTERNS).allowed
    assert check_exec(["x" * (MAX_ARGV_BYTES - 1)], PATTERNS).allowed  # 'x...x' and its NUL: exactly the cap
    assert not check_exec(["x" * MAX_ARGV_BYTES], PATTERNS).allowed


def test_the_argument_cap() -> None:
    verdict = check_exec(["ls", *["a"] * MAX_ARGV_WORDS], PATTERNS)
    assert not verdict.allowed
    assert f"more than the {MAX_ARGV_WORDS} that are checked" in verdict.reason
    assert check_exec(["ls", *["a"] * (MAX_ARGV_WORDS - 1)], PATTERNS).allowed
    assert check_exec(["ls", *["a"] * (MAX_ARGV_WORDS - 1)], PATTERNS, fail_closed=False).allowed


def _fill(unit: str, room: int = MAX_ARGV_BYTES - 16) -> str:
    return (unit * (room // len(unit) + 1))[:room]


PATHOLOGICAL = {
    "unbalanced ((": ["sh", "-c", _fill("((")],
    "subshells": ["sh", "-c", _fill("(", MAX_ARGV_BYTES // 2 - 8) + ")" * (MAX_ARGV_BYTES // 2 - 16)],
    "[[ && chain": ["sh", "-c", _fill("[[ a && ")],
    "eval chain": ["sh", "-c", _fill("eval ")],
    "backticks": ["sh", "-c", _fill("`")],
    "env -S chain": ["env", "-S", _fill("env -S ")],
    "extglobs": ["bash", "-c", _fill("@(")],
    "arrays": ["sh", "-c", _fill("a=(")],
    "quoted $(": ["sh", "-c", _fill("'$(' ")],
}


@pytest.mark.parametrize("argv", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_input_at_the_cap_stops_within_the_budget(argv: list[str]) -> None:
    analysis = analyze(argv)
    assert analysis.steps >= -MAX_STEPS  # never far beyond the budget: each charge is bounded by the text
    verdict = check_exec(argv, PATTERNS)
    assert isinstance(verdict, ExecVerdict)
    assert "could not be analysed" not in verdict.reason  # a limit, not a crash (RecursionError)


def test_unbalanced_arithmetic_is_refused_by_the_step_budget() -> None:
    # Before the budget this took minutes at 64 KiB and was allowed: every '((' scanned to the end again.
    first = check_exec(PATHOLOGICAL["unbalanced (("], PATTERNS)
    assert not first.allowed
    assert f"more than the {MAX_STEPS} analysis steps" in first.reason
    assert check_exec(PATHOLOGICAL["unbalanced (("], PATTERNS) == first  # deterministic: no clock involved
    assert check_exec(PATHOLOGICAL["unbalanced (("], PATTERNS, fail_closed=False).allowed


def test_a_denied_command_found_before_the_budget_runs_out_still_wins() -> None:
    verdict = check_exec(["sh", "-c", "rm -rf /; " + _fill("((", MAX_ARGV_BYTES - 40)], PATTERNS)
    assert verdict.pattern == "rm -rf"


def test_an_ordinary_long_script_fits_the_budget() -> None:
    script = "\n".join(f'if [ -f "/app/file{i}" ]; then echo "$(cat /app/file{i})" | grep -q x; fi' for i in range(150))
    assert len(script.encode()) < MAX_ARGV_BYTES
    assert check_exec(["sudo", "sh", "-c", script], PATTERNS).allowed
    assert analyze(["sudo", "sh", "-c", script]).steps > MAX_STEPS // 2  # used: a little over the script's size
