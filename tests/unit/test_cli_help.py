"""Every command's --help reads as words for users (no Python types), plus --version, version and completion.

The commands are found by walking the real command tree (``main.build_command``), so a command added later is
checked without being listed here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from typer import _click

from kubejit import __version__
from kubejit.entrypoints.cli.main import build_command, main

# What Typer prints for an annotation: <str>, <bool>, <list[str]>, <path>, <int range>, <datetime>, <float>, ...
_PYTHON_TYPE = re.compile(
    r"<(?:str|int|float|bool|path|file|dir|datetime|uuid|list\[[^\]]*\]|[a-z]+ range)>|\{[a-z_]+\}"
)


def command_paths(command: _click.Command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*prefix, name))


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``kubejit ARGS`` in this process (click exits through SystemExit); its stdout, once it exited 0."""
    try:
        code: int | str | None = main(args)
    except SystemExit as exited:
        code = exited.code
    captured = capsys.readouterr()
    assert code in (0, None), captured.err
    return captured.out


def help_of(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    return run([*path, "--help"], capsys)


def test_the_walk_finds_the_commands_and_their_groups() -> None:
    paths = set(command_paths(build_command()))
    assert {(), ("request",), ("audit", "verify"), ("devcluster", "run"), ("version",), ("token",)} <= paths


def test_no_help_shows_a_python_type(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    leaks = {}
    for path in command_paths(build_command()):
        shown = help_of(path, capsys)
        assert "Usage:" in shown, path
        found = sorted(set(_PYTHON_TYPE.findall(shown)))
        if found:
            leaks[" ".join(path) or "kubejit"] = found
    assert leaks == {}


def test_options_get_plain_words_and_flags_none(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    shown = help_of(("request",), capsys)
    assert re.search(r"--namespace\s+-n\s+TEXT\s", shown), shown
    assert re.search(r"--wait\s+Wait until", shown), shown
    assert re.search(r"\bPROFILE\s+The access profile", shown), shown
    assert re.search(r"--dir\s+PATH\s", help_of(("devcluster", "run"), capsys))


def test_version_flag_and_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"], capsys) == f"kubejit {__version__}\n"
    assert run(["version"], capsys) == f"kubejit {__version__}\n"
    assert json.loads(run(["version", "-o", "json"], capsys)) == {"version": __version__}


def test_shell_completion_is_offered(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    shown = help_of((), capsys)
    assert "--install-completion" in shown
    assert "--show-completion" in shown
    assert "_KUBEJIT_COMPLETE" in run(["--show-completion", "bash"], capsys)
