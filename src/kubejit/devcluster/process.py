"""Supervision of the control plane's child processes.

Each child writes to its own log file; readiness is found by polling a check (never by sleeping a fixed
time); if the child exits or the deadline passes while waiting, the error carries the last lines of its
log so a failed start explains itself. Children get SIGKILL if the process that started them dies, so a
killed test run does not leave etcd or kube-apiserver behind.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kubejit.domain.errors import Unavailable

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 40


_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """Runs in the child between fork and exec (Linux): ask for SIGKILL when the parent goes away."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ManagedProcess:
    """One child process with its log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def exit_code(self) -> int | None:
        """None while running (or never started)."""
        return self._popen.poll() if self._popen else None

    def tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL now and reap it."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        if self._popen is None or self._popen.poll() is not None:
            return
        self._popen.send_signal(signal.SIGTERM)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()


def wait_until_ready(
    process: ManagedProcess,
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    interval: float = 0.05,
) -> float:
    """Poll ``check`` until it returns True; return the seconds it took.

    Raises :class:`Unavailable` with the process's log tail if it exits or ``timeout`` passes first.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        code = process.exit_code()
        if code is not None:
            raise Unavailable(
                f"{process.name} exited with code {code} before {what}; last lines of {process.log_path}:\n"
                f"{process.tail()}"
            )
        if check():
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise Unavailable(
                f"{process.name} was not {what} after {timeout:.0f}s; last lines of {process.log_path}:\n"
                f"{process.tail()}"
            )
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
