"""The README's walk-through, run from the README's own text, the way a newcomer follows it.

The demo starts as ``make demo`` starts it (its recipe read from the Makefile, in a directory of the test's own in
place of /tmp/kubejit-demo). Then one fresh ``bash`` (no profile, a bare system PATH without this venv, an empty
home) gets the lines of the README's marked blocks one by one, as written; the only changes are the two a reader
makes: the demo's directory, and the request id where the README says ``req-...``. Each ``kubejit login`` opens
the sign-in page in a real browser (headless Chromium, tests/readme_browser.py, through ``$BROWSER`` as Python's
``webbrowser`` honours it), where the person the README names ("# pick alice") is picked. Every line must succeed,
except the one the README says is Forbidden, and say what the README says it shows.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.walkthrough import DEMO_DIR, ROOT, comment_of, make_recipe, picked_user, walkthrough_blocks

pytestmark = pytest.mark.cluster

README = ROOT / "README.md"
_STEP_TIMEOUT = 120.0
_GRANT_ID = re.compile(r"\breq-[0-9a-f]{16}\b")


@dataclass
class Demo:
    directory: Path
    process: subprocess.Popen[str]
    ready: str


def demo_command(directory: Path) -> list[str]:
    """What `make demo` runs (the README's set-up step), in ``directory`` instead of /tmp/kubejit-demo."""
    readme = README.read_text()
    assert "make demo" in readme, "the README starts the demo with make demo"
    (line,) = make_recipe((ROOT / "Makefile").read_text(), "demo")
    line = line.replace("$(BIN)/", f"{Path(sys.executable).parent}/").replace(DEMO_DIR, str(directory))
    return line.split()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    directory = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEJIT_") or k == "KUBEJIT_CACHE_DIR"}
    with subprocess.Popen(
        demo_command(directory), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as process:
        assert process.stdout is not None
        ready = process.stdout.readline()
        try:
            assert ready.startswith("ready "), ready
            yield Demo(directory, process, ready)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)
    assert process.returncode == 0


@dataclass
class Step:
    line: str
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"$ {self.line}\n(exit {self.returncode})\n{self.stdout}\n{self.stderr}"


class FreshShell:
    """One bash, as a new terminal: each line runs in it (so `source` and exports last), its output captured."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.pick = home / "pick"
        home.mkdir(parents=True)
        browser = f"{sys.executable} {ROOT / 'tests' / 'readme_browser.py'} %s"
        env = {
            "HOME": str(home),
            "PATH": "/usr/local/bin:/usr/bin:/bin",  # no venv: the README must say how kubejit gets on PATH
            "LANG": "C.UTF-8",
            "BROWSER": browser,
            "KUBEJIT_TEST_PICK": str(self.pick),
        }
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, text=True, cwd=home, env=env
        )
        self.count = 0

    def run(self, line: str, *, pick: str | None = None) -> Step:
        assert self.process.stdin is not None
        if pick is not None:
            self.pick.write_text(pick)
        self.count += 1
        out, err, code = (self.home / f".step{self.count}.{name}" for name in ("out", "err", "rc"))
        done = f"echo $? >{code}.tmp; mv {code}.tmp {code}"  # the exit code appears at once, whole
        self.process.stdin.write(f"{{ {line}\n}} >{out} 2>{err} </dev/null; {done}\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + _STEP_TIMEOUT
        while not code.exists():
            assert time.monotonic() < deadline, f"`{line}` did not finish in {_STEP_TIMEOUT}s"
            assert self.process.poll() is None, f"the shell exited during `{line}`"
            time.sleep(0.1)
        return Step(line, int(code.read_text()), out.read_text(), err.read_text())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[FreshShell]:
    fresh = FreshShell(tmp_path / "home")
    yield fresh
    fresh.close()


def as_the_reader_types_it(line: str, directory: Path, grant: str | None) -> str:
    """The README's line with what a reader fills in: the demo's directory and the request id it printed."""
    line = line.replace(DEMO_DIR, str(directory))
    if "req-..." in line:
        assert grant is not None, f"`{line}` needs a request id, and no line before it printed one"
        line = line.replace("req-...", grant)
    return line


def run_step(shell: FreshShell, line: str) -> Step:
    """Run one line; a `kubectl get` that the README says works is retried for a while, as a person would."""
    step = shell.run(line, pick=picked_user(line))
    deadline = time.monotonic() + 30
    while step.returncode != 0 and line.startswith("kubectl get") and time.monotonic() < deadline:
        time.sleep(1)
        step = shell.run(line)
    return step


def check_step(step: Step, original: str, grant: str | None) -> None:
    """What the README says about the line: it succeeds (or is Forbidden), and shows what it should."""
    comment = comment_of(original)
    if comment.startswith("Forbidden"):
        assert step.returncode != 0, step
        assert "forbidden" in step.stderr.lower(), step
        return
    assert step.returncode == 0, step
    user = picked_user(original)
    if user is not None:
        assert f"as {user}\n" in step.stdout, step
    if original.startswith("kubectl") and "get pods -n payments" in original:
        assert "checkout-7f9c" in step.stdout, step
    if original.startswith(("kubejit list --pending", "kubejit audit")):  # the id, whole, on one line
        assert grant is not None
        assert grant in step.stdout, step


def test_the_readme_walkthrough_works_as_written(demo: Demo, shell: FreshShell) -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert set(blocks) == {"demo", "scripts"}, blocks.keys()
    grant: str | None = None
    for original in blocks["demo"]:
        step = run_step(shell, as_the_reader_types_it(original, demo.directory, grant))
        check_step(step, original, grant)
        if original.startswith("source"):  # the one set-up line: the demo's own programs come first
            found = shell.run("command -v kubejit kubectl").stdout.split()
            assert found == [f"{Path(sys.executable).parent}/kubejit", found[1]], found
            assert Path(found[1]).resolve() == Path(demo_kubectl(demo)).resolve(), found
        if original.startswith("kubejit request"):
            ids = _GRANT_ID.findall(step.stdout)
            assert ids, step
            grant = ids[0]
    assert grant is not None

    (script,) = blocks["scripts"]
    step = shell.run(as_the_reader_types_it(script, demo.directory, grant))
    assert step.returncode == 0, step
    assert re.search(r"^user\s+alice$", step.stdout, re.M), step
    assert re.search(r"^Username\s+alice$", step.stdout, re.M), step


def demo_kubectl(demo: Demo) -> str:
    """The kubectl the demo's cluster uses (its version matches kube-apiserver's)."""
    from kubejit.devcluster.binaries import find_kubectl

    return str(find_kubectl())
