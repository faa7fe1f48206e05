"""The safe-exec guardrail's command check: denied commands are found through shells, wrappers and quoting.

The table uses the demo policy's patterns (DESIGN.md section 5). Cases marked as smuggled are the bypasses
that REFERENCES.md lists for first-token allow-lists (sh -c, &&, env, python -c) and their relatives; the
properties check that wrapping a denied command in a shell string or in wrappers never makes it pass, and
that no input makes the check raise instead of returning a verdict.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubejit.domain.errors import InvalidInput
from kubejit.domain.exec_commands import (
    INTERACTIVE_REASON,
    MAX_ARGV_BYTES,
    MAX_DEPTH,
    CommandPattern,
    ExecVerdict,
    Unresolvable,
    check_exec,
    parse_pattern,
    simple_commands,
)

DENY = ("rm -rf", "mkfs", "dd", "shutdown", "reboot")
PATTERNS = [parse_pattern(text) for text in DENY]

# argv -> the pattern that must deny it
DENIED: list[tuple[list[str], str]] = [
    # direct
    (["rm", "-rf", "/"], "rm -rf"),
    (["rm", "-fr", "/"], "rm -rf"),
    (["rm", "-r", "-f", "/"], "rm -rf"),
    (["rm", "-R", "-f", "/"], "rm -rf"),
    (["rm", "/", "-rf"], "rm -rf"),
    (["rm", "-v", "-rfi", "/data"], "rm -rf"),
    (["/bin/rm", "-rf", "/"], "rm -rf"),
    (["./rm", "-rf", "/"], "rm -rf"),
    (["rm", "--recursive", "--force", "/"], "rm -rf"),
    (["rm", "--rec", "--for", "/"], "rm -rf"),
    (["rm", "-r", "--force", "/"], "rm -rf"),
    (["mkfs.ext4", "/dev/sda"], "mkfs"),
    (["mkfs", "-t", "ext4", "/dev/sda"], "mkfs"),
    (["/sbin/mkfs.xfs", "-f", "/dev/sdb"], "mkfs"),
    (["dd", "if=/dev/zero", "of=/dev/sda"], "dd"),
    (["shutdown", "-h", "now"], "shutdown"),
    (["/sbin/reboot"], "reboot"),
    # smuggled through shells
    (["sh", "-c", "rm -rf /"], "rm -rf"),
    (["bash", "-lc", "cd / && rm -rf *"], "rm -rf"),
    (["bash", "--norc", "-c", "rm -rf /"], "rm -rf"),
    (["sh", "-ec", "rm -rf /"], "rm -rf"),
    (["bash", "-o", "pipefail", "-c", "rm -rf /"], "rm -rf"),
    (["sh", "-c", "true && rm -rf /"], "rm -rf"),
    (["sh", "-c", "true; rm -rf /"], "rm -rf"),
    (["sh", "-c", "false || rm -rf /"], "rm -rf"),
    (["sh", "-c", "sleep 1 & rm -rf /"], "rm -rf"),
    (["sh", "-c", "echo ok\nrm -rf /"], "rm -rf"),
    (["sh", "-c", "ls | xargs rm -rf"], "rm -rf"),
    (["sh", "-c", "echo $(rm -rf /)"], "rm -rf"),
    (["sh", "-c", "echo `rm -rf /`"], "rm -rf"),
    (["sh", "-c", "echo $(echo $(echo `rm -rf /`))"], "rm -rf"),
    (["sh", "-c", "x=$(rm -rf /)"], "rm -rf"),
    (["sh", "-c", "echo ${x:-$(rm -rf /)}"], "rm -rf"),
    (["sh", "-c", "diff a <(rm -rf /)"], "rm -rf"),
    (["sh", "-c", "(cd / && rm -rf .)"], "rm -rf"),
    (["sh", "-c", "{ rm -rf /; }"], "rm -rf"),
    (["sh", "-c", "if true; then rm -rf /; fi"], "rm -rf"),
    (["sh", "-c", 'for f in /*; do rm -rf "$f"; done'], "rm -rf"),
    (["sh", "-c", "case $x in a) rm -rf /;; esac"], "rm -rf"),
    (["sh", "-c", "f() { rm -rf /; }; f"], "rm -rf"),
    (["sh", "-c", "function f { rm -rf /; }"], "rm -rf"),
    (["sh", "-c", "! rm -rf /"], "rm -rf"),
    (["sh", "-c", "2>/dev/null rm -rf /"], "rm -rf"),
    (["sh", "-c", '"r"m -rf /'], "rm -rf"),
    (["sh", "-c", r"r\m -rf /"], "rm -rf"),
    (["sh", "-c", "'rm' -rf /"], "rm -rf"),
    (["sh", "-c", "r''m -r\"f\" /"], "rm -rf"),
    (["bash", "-c", r"$'\x72\x6d' -rf /"], "rm -rf"),
    (["sh", "-c", "sh -c 'rm -rf /'"], "rm -rf"),
    (["sh", "-c", "sh -c \"bash -c 'rm -rf /'\""], "rm -rf"),
    (["sh", "-c", "eval 'rm -rf /'"], "rm -rf"),
    (["sh", "-c", "trap 'rm -rf /' EXIT"], "rm -rf"),
    (["sh", "-c", "cat <<EOF\n$(rm -rf /)\nEOF"], "rm -rf"),
    (["sh", "-c", "cat <<EOF; rm -rf /\nbody\nEOF"], "rm -rf"),
    (["sh", "-c", "[[ -n x ]] && rm -rf /"], "rm -rf"),
    (["sh", "-c", "[[ x || rm -rf / ]]"], "rm -rf"),  # dash has no [[: there || separates commands
    (["sh", "-c", "((rm -rf /))"], "rm -rf"),  # dash reads (( as two subshells
    (["bash", "-c", "x='a[$(rm -rf /)]'; echo $((x))"], "rm -rf"),  # bash evaluates the stored subscript
    (["sh", "-c", "mkfs.ext4 /dev/sda"], "mkfs"),
    (["sh", "-c", "echo y | dd of=/dev/sda"], "dd"),
    (["sh", "-c", "sync; shutdown -r now"], "shutdown"),
    # smuggled through wrappers
    (["env", "rm", "-rf", "/"], "rm -rf"),
    (["env", "-i", "PATH=/bin", "rm", "-rf", "/"], "rm -rf"),
    (["env", "-u", "HOME", "--", "rm", "-rf", "/"], "rm -rf"),
    (["env", "-S", "rm -rf", "/"], "rm -rf"),
    (["/usr/bin/env", "rm", "-rf", "/"], "rm -rf"),
    (["nice", "-n", "5", "rm", "-rf", "/"], "rm -rf"),
    (["nice", "-5", "rm", "-rf", "/"], "rm -rf"),
    (["timeout", "10", "rm", "-rf", "/"], "rm -rf"),
    (["timeout", "-s", "KILL", "--kill-after=5", "10", "rm", "-rf", "/"], "rm -rf"),
    (["nohup", "rm", "-rf", "/"], "rm -rf"),
    (["stdbuf", "-oL", "rm", "-rf", "/"], "rm -rf"),
    (["ionice", "-c", "3", "rm", "-rf", "/"], "rm -rf"),
    (["setsid", "-f", "rm", "-rf", "/"], "rm -rf"),
    (["chroot", "/host", "rm", "-rf", "/"], "rm -rf"),
    (["busybox", "rm", "-rf", "/"], "rm -rf"),
    (["busybox", "sh", "-c", "rm -rf /"], "rm -rf"),
    (["sudo", "rm", "-rf", "/"], "rm -rf"),
    (["sudo", "-u", "root", "--", "sh", "-c", "rm -rf /"], "rm -rf"),
    (["su", "-c", "rm -rf /"], "rm -rf"),
    (["su", "root", "-c", "rm -rf /"], "rm -rf"),
    (["runuser", "-u", "app", "--", "rm", "-rf", "/"], "rm -rf"),
    (["sh", "-c", "exec rm -rf /"], "rm -rf"),
    (["sh", "-c", "command rm -rf /"], "rm -rf"),
    (["sh", "-c", "builtin exec -a ls rm -rf /"], "rm -rf"),
    (["sh", "-c", "time -p rm -rf /"], "rm -rf"),
    (["find", "/", "-exec", "rm", "-rf", "{}", ";"], "rm -rf"),
    (["sh", "-c", r"find / -execdir rm -rf {} \;"], "rm -rf"),
    (["sh", "-c", "find / -type d | xargs -0 -n1 rm -rf"], "rm -rf"),
    (["xargs", "-a", "list", "rm", "-rf"], "rm -rf"),
    (["watch", "-n", "1", "rm", "-rf", "/"], "rm -rf"),
    (["watch", "-n1", "rm -rf /tmp; ls"], "rm -rf"),
    (["flock", "/run/lock/app", "rm", "-rf", "/"], "rm -rf"),
    (["flock", "-w", "5", "/run/lock/app", "-c", "rm -rf /"], "rm -rf"),
    (["strace", "-f", "-o", "/var/log/trace", "rm", "-rf", "/"], "rm -rf"),
    (["nsenter", "-t", "1", "-m", "-u", "rm", "-rf", "/"], "rm -rf"),
    (["tini", "--", "rm", "-rf", "/"], "rm -rf"),
    (["timeout", "--frobnicate", "5", "rm", "-rf", "/"], "rm -rf"),  # unknown option: every position is tried
]

ALLOWED: list[list[str]] = [
    ["rm", "file"],
    ["rm", "-r", "dir"],
    ["rm", "-f", "file"],
    ["rm", "--", "-rf"],  # removes a file named -rf
    ["ls", "-rf"],
    ["echo", "rm", "-rf", "/"],
    ["grep", "rm -rf", "log"],
    ["ddate"],
    ["mkfsx"],
    ["systemctl", "status"],
    ["cat", "/etc/shutdown.conf"],
    ["ls", "-la", "/app"],
    ["sh", "-c", "cd /app && ls -la | grep foo"],
    ["sh", "-c", "echo 'rm -rf /'"],
    ["sh", "-c", "echo ok # ; rm -rf /"],
    ["sh", "-c", "cat <<'EOF'\n$(rm -rf /)\nEOF\necho done"],
    ["sh", "-c", "(( $i > 3 )) && echo big"],
    ["sh", "-c", "echo $(( $i + 1 ))"],
    ["sh", "-c", "[[ $a == b || $c ]] && echo yes"],
    ["sh", "-c", "rm -r -- $FILE"],
    ["sh", "-c", "rm -r ./*.tmp"],
    ["sh", "-c", "find . -name '*.tmp' -exec rm {} +"],
    ["find", ".", "-delete"],  # not rm -rf: a policy that means it says "find -delete"
    ["python3", "manage.py", "migrate"],  # a program in the image is opaque, like any binary
    ["awk", "-F:", "{print $1}", "/etc/passwd"],
    ["env", "FOO=1", "printenv", "FOO"],
    ["kubectl", "version"],
    ["sh", "-c", "echo '" + "$(" * 3],  # text in quotes that only might be code: matches count, doubt does not
]

UNRESOLVABLE: list[list[str]] = [
    ["sh", "-c", "$X -rf /"],
    ["sh", "-c", "${CMD} -rf /"],
    ["sh", "-c", "$(echo rm) -rf /"],
    ["sh", "-c", "/bin/r? -rf /"],
    ["sh", "-c", "/bin/r* -rf /"],
    ["bash", "-c", "{rm,-rf,/}"],
    ["sh", "-c", "rm${IFS}-rf${IFS}/"],
    ["sh", "-c", 'eval "$CMD"'],
    ["sh", "-c", '"$@"', "sh", "rm", "-rf", "/"],
    ["sh", "-c", "rm -r $FLAGS /"],  # $FLAGS may hold -f
    ["bash", "-c", "rm -{r,f} /"],
    ["sh", "-c", "touch ./-f; rm -r *"],  # the glob may expand to -f
    ["sh", "-c", "echo -rf / | xargs rm"],
    ["xargs", "-I{}", "rm", "{}"],
    ["sh", "-c", ". ./env.sh"],
    ["sh", "./cleanup.sh"],
    ["sh", "-c", "echo rm -rf / | sh"],
    ["sh", "-c", "bash <<EOF\nrm -rf /\nEOF"],
    ["sh", "-c", "alias x='rm -rf'; x /"],
    ["python3", "-c", 'import os; os.system("rm -rf /")'],
    ["python3", "-W", "ignore", "-c", "print(1)"],
    ["perl", "-e", 'system("rm -rf /")'],
    ["node", "-e", "require('child_process').execSync('rm -rf /')"],
    ["awk", 'BEGIN { system("rm -rf /") }'],
    ["fish", "-c", "rm -rf /"],
]

INTERACTIVE: list[list[str]] = [
    ["sh"],
    ["bash", "-i"],
    ["/bin/bash"],
    ["bash", "-l"],
    ["sh", "-s"],
    ["busybox", "sh"],
    ["sudo", "-i"],
    ["su", "-"],
    ["chroot", "/host"],
    ["sh", "-c", "cd /app && exec bash"],
    ["python3"],
]


def _id(argv: list[str]) -> str:
    return " ".join(argv)[:60]


@pytest.mark.parametrize(("argv", "pattern"), DENIED, ids=[_id(a) for a, _ in DENIED])
def test_denied_commands_are_found_wherever_they_hide(argv: list[str], pattern: str) -> None:
    verdict = check_exec(argv, PATTERNS)
    assert not verdict.allowed, verdict.reason
    assert verdict.pattern == pattern
    assert verdict.command is not None
    assert f"matches the denied exec command pattern {pattern!r}" in verdict.reason


@pytest.mark.parametrize("argv", ALLOWED, ids=[_id(a) for a in ALLOWED])
def test_look_alikes_and_harmless_commands_are_allowed(argv: list[str]) -> None:
    verdict = check_exec(argv, PATTERNS)
    assert verdict == ExecVerdict(True, "no denied exec command pattern matches")


@pytest.mark.parametrize("argv", UNRESOLVABLE, ids=[_id(a) for a in UNRESOLVABLE])
def test_commands_that_cannot_be_checked_are_denied_when_failing_closed(argv: list[str]) -> None:
    verdict = check_exec(argv, PATTERNS)
    assert not verdict.allowed
    assert verdict.pattern is None
    assert verdict.reason.startswith("this exec command cannot be checked against the denied commands: ")
    assert len(verdict.reason) > 90  # says what, and how to run it instead

    fail_open = check_exec(argv, PATTERNS, fail_closed=False)
    assert fail_open.allowed
    assert fail_open.reason.startswith("allowed without a complete check")


@pytest.mark.parametrize("argv", INTERACTIVE, ids=[_id(a) for a in INTERACTIVE])
def test_interactive_shells_are_allowed_and_flagged(argv: list[str]) -> None:
    for fail_closed in (True, False):
        verdict = check_exec(argv, PATTERNS, fail_closed=fail_closed)
        assert verdict.allowed
        assert verdict.interactive
        assert verdict.reason.startswith(INTERACTIVE_REASON)


def test_the_table_is_big_enough() -> None:
    assert len(DENIED) + len(ALLOWED) + len(UNRESOLVABLE) + len(INTERACTIVE) >= 50


def test_reasons_name_the_command_and_the_pattern() -> None:
    verdict = check_exec(["sh", "-c", "cd /tmp && /bin/rm -fr cache"], PATTERNS)
    assert verdict == ExecVerdict(
        False,
        "the command '/bin/rm -fr cache' matches the denied exec command pattern 'rm -rf'",
        pattern="rm -rf",
        command=("/bin/rm", "-fr", "cache"),
    )
    python = check_exec(["python3", "-c", "print(1)"], PATTERNS)
    assert "`python3 -c` runs Python code" in python.reason
    dynamic = check_exec(["sh", "-c", "$X -rf /"], PATTERNS)
    assert "the program name '$X'" in dynamic.reason
    assert "write the program name literally" in dynamic.reason


def test_a_definite_match_wins_over_doubt() -> None:
    verdict = check_exec(["sh", "-c", "$X; rm -rf /"], PATTERNS, fail_closed=False)
    assert not verdict.allowed
    assert verdict.pattern == "rm -rf"


def test_without_patterns_everything_is_allowed_but_shells_are_still_flagged() -> None:
    assert check_exec(["python3", "-c", "x"], []) == ExecVerdict(True, "no exec command patterns are denied")
    assert check_exec(["rm", "-rf", "/"], []).allowed
    assert check_exec(["bash"], []).interactive


def test_nesting_beyond_the_limit_cannot_be_checked() -> None:
    text = "rm -rf /"
    for _ in range(MAX_DEPTH + 2):
        text = f"echo $({text})"
    verdict = check_exec(["sh", "-c", text], PATTERNS)
    assert not verdict.allowed
    assert "nested more than 8 levels" in verdict.reason

    shallow = "rm -rf /"
    for _ in range(MAX_DEPTH - 2):
        shallow = f"eval {shallow!r}" if "'" not in shallow else f'eval "{shallow}"'
    assert check_exec(["sh", "-c", shallow], PATTERNS).pattern == "rm -rf"


@pytest.mark.parametrize(
    "text",
    [
        "(" * 20_000 + "rm -rf /" + ")" * 20_000,
        "$(" * 20_000,
        '"${a:-' * 5_000,
        "`" * 30_000,
        "$((" * 10_000,
        "[[ " * 10_000,
        "case x in " * 3_000,
    ],
    ids=["parens", "substitutions", "parameters", "backticks", "arithmetic", "tests", "cases"],
)
def test_pathological_nesting_neither_crashes_nor_passes_silently(text: str) -> None:
    verdict = check_exec(["sh", "-c", text], PATTERNS)
    assert isinstance(verdict, ExecVerdict)
    if "rm -rf" in text:
        assert not verdict.allowed


def test_oversized_argv_cannot_be_checked() -> None:
    verdict = check_exec(["sh", "-c", "true;" * (MAX_ARGV_BYTES // 5 + 1)], PATTERNS)
    assert not verdict.allowed
    assert f"more than the {MAX_ARGV_BYTES}" in verdict.reason
    assert check_exec(["strace"] * 100 + ["ls"], PATTERNS).allowed is False  # too many wrappers


def test_one_string_instead_of_an_argv_is_refused() -> None:
    assert not check_exec("ls", PATTERNS).allowed
    with pytest.raises(TypeError):
        simple_commands("ls")


def test_simple_commands_lists_everything_that_would_run() -> None:
    assert simple_commands(["sudo", "sh", "-c", "cd / && rm -rf x | tee log"]) == (
        ("sudo", "sh", "-c", "cd / && rm -rf x | tee log"),
        ("sh", "-c", "cd / && rm -rf x | tee log"),
        ("cd", "/"),
        ("rm", "-rf", "x"),
        ("tee", "log"),
    )
    assert simple_commands(["env", "A=1", "nice", "ls"]) == (("env", "A=1", "nice", "ls"), ("nice", "ls"), ("ls",))
    assert simple_commands(["bash"]) == (("bash",),)
    assert simple_commands([]) == ()
    with pytest.raises(Unresolvable) as raised:
        simple_commands(["sh", "-c", "$X"])
    assert "'$X'" in raised.value.reason


@pytest.mark.parametrize(
    ("text", "program", "args"),
    [
        ("rm -rf", "rm", ("-r", "-f")),
        ("rm -Rf", "rm", ("-r", "-f")),
        ("rm --recursive --force", "rm", ("-r", "-f")),
        ("/bin/rm -r", "rm", ("-r",)),
        ("mkfs", "mkfs", ()),
        ("dd of=/dev/sda", "dd", ("of=/dev/sda",)),
        ("systemctl reboot", "systemctl", ("reboot",)),
        ("find -delete", "find", ("-delete",)),
        ("chmod -R 777", "chmod", ("-R", "777")),
        ("'rm'  -r  -r", "rm", ("-r",)),
    ],
)
def test_patterns_are_parsed_into_program_and_required_arguments(
    text: str, program: str, args: tuple[str, ...]
) -> None:
    assert parse_pattern(text) == CommandPattern(program=program, args=args, text=text)


@pytest.mark.parametrize("text", ["", "   ", "''", "rm 'unclosed", "-rf", "$X -rf", "r* -f", "A=1 rm"])
def test_bad_patterns_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput, match="exec command pattern"):
        parse_pattern(text)


def test_other_patterns_follow_the_same_rules() -> None:
    patterns = [parse_pattern(p) for p in ("systemctl reboot", "find -delete", "chmod -R", "git push --force")]
    assert check_exec(["systemctl", "reboot"], patterns).pattern == "systemctl reboot"
    assert check_exec(["systemctl", "status"], patterns).allowed
    assert check_exec(["find", "/", "-name", "x", "-delete"], patterns).pattern == "find -delete"
    assert check_exec(["find", "/", "-depth"], patterns).allowed  # single-dash long options are not clusters
    assert check_exec(["chmod", "--recursive", "777", "/"], patterns).pattern == "chmod -R"
    assert check_exec(["chmod", "-r", "file"], patterns).allowed  # chmod -r removes read permission
    assert check_exec(["git", "push", "-f"], patterns).pattern == "git push --force"


# ------------------------------------------------------------------------------------------------- properties

DANGEROUS = [
    (["rm", "-rf", "/"], "rm -rf"),
    (["rm", "-fr", "/var/lib"], "rm -rf"),
    (["rm", "-r", "-f", "/data"], "rm -rf"),
    (["mkfs.ext4", "/dev/sda1"], "mkfs"),
    (["dd", "if=/dev/zero", "of=/dev/sda"], "dd"),
    (["shutdown", "-h", "now"], "shutdown"),
    (["reboot"], "reboot"),
]
HARMLESS = ["true", "echo hi", "ls -la /", "cd /tmp", "sleep 1", "cat /etc/hostname", "id -u"]
SHELLS = [["sh", "-c"], ["bash", "-c"], ["/bin/dash", "-ec"], ["bash", "-lc"], ["busybox", "sh", "-c"], ["zsh", "-c"]]
WRAPPERS = [
    ["env"],
    ["env", "-i"],
    ["env", "LANG=C"],
    ["nice"],
    ["nice", "-n", "10"],
    ["timeout", "30"],
    ["timeout", "-s", "TERM", "5m"],
    ["nohup"],
    ["sudo"],
    ["sudo", "-u", "root"],
    ["stdbuf", "-oL"],
    ["setsid"],
    ["ionice", "-c3"],
    ["time"],
    ["doas"],
    ["busybox"],
]
SEPARATORS = [";", " && ", " || ", " | ", " & ", "\n"]


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'" if any(c in word for c in " '\"$`\\;&|<>()") else word


@given(
    st.sampled_from(DANGEROUS),
    st.sampled_from(HARMLESS),
    st.sampled_from(SEPARATORS),
    st.sampled_from(SHELLS),
    st.booleans(),
)
def test_a_denied_command_stays_denied_inside_a_shell_string(
    dangerous: tuple[list[str], str], harmless: str, separator: str, shell: list[str], first: bool
) -> None:
    argv, pattern = dangerous
    command = " ".join(_quote(w) for w in argv)
    text = f"{command}{separator}{harmless}" if first else f"{harmless}{separator}{command}"
    verdict = check_exec([*shell, text], PATTERNS)
    assert not verdict.allowed
    assert verdict.pattern == pattern


@given(st.sampled_from(DANGEROUS), st.lists(st.sampled_from(WRAPPERS), min_size=1, max_size=6))
def test_a_denied_command_stays_denied_behind_wrappers(
    dangerous: tuple[list[str], str], wrappers: list[list[str]]
) -> None:
    argv, pattern = dangerous
    prefix = [word for wrapper in wrappers for word in wrapper]
    verdict = check_exec([*prefix, *argv], PATTERNS)
    assert not verdict.allowed
    assert verdict.pattern == pattern


@st.composite
def _obfuscated(draw: st.DrawFn, word: str) -> str:
    """The same word, each character written plainly, escaped, single-, double- or ANSI-C-quoted."""
    styles = st.sampled_from(["{}", "\\{}", "'{}'", '"{}"', "$'{}'", "{}''", '""{}'])
    return "".join(draw(styles).format(c) for c in word)


@given(_obfuscated("rm"), _obfuscated("-rf"), st.sampled_from(SHELLS))
def test_quoting_does_not_hide_a_command(program: str, flags: str, shell: list[str]) -> None:
    verdict = check_exec([*shell, f"{program} {flags} /"], PATTERNS)
    assert not verdict.allowed
    assert verdict.pattern == "rm -rf"


SHELL_PIECES = [
    *"ab rm-f$(){}[]`'\"\\;&|<>\n#*?=!@,.0",
    "$((",
    "((",
    "<<E\n",
    "E\n",
    "[[ ",
    " ]]",
    "case ",
    " in ",
    ";;",
]
SHELL_TEXT = st.lists(st.sampled_from(SHELL_PIECES), max_size=60).map("".join)


@given(st.lists(st.text(max_size=40), max_size=6))
def test_any_argv_gets_a_verdict(argv: list[str]) -> None:
    assert isinstance(check_exec(argv, PATTERNS), ExecVerdict)
    with contextlib.suppress(Unresolvable):
        simple_commands(argv)


@given(SHELL_TEXT, st.sampled_from([["sh", "-c"], ["eval"], ["xargs"], ["env", "-S"], ["watch"]]))
def test_any_shell_text_gets_a_verdict(text: str, prefix: list[str]) -> None:
    assert isinstance(check_exec([*prefix, text], PATTERNS), ExecVerdict)
    with contextlib.suppress(Unresolvable):
        simple_commands([*prefix, text])
