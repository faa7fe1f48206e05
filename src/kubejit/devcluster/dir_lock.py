"""One running control plane per output directory: a lock file that the running one holds.

``make demo`` always writes to ``/tmp/kubejit-demo``; a second one started while the first runs would overwrite
its kubeconfigs, env files and database under it. :class:`DirectoryLock` takes an exclusive ``flock`` on
``<dir>/.kubejit.lock`` before anything is written there (``DevCluster.start`` does it when it is given a
directory) and keeps it until stop. The kernel drops the lock when the process dies, so the file a killed demo
leaves behind blocks nobody; the pid written in it only names the running one in the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kubejit.domain.errors import Conflict

LOCK_NAME = ".kubejit.lock"


class DirectoryLock:
    """An exclusive, non-blocking lock on a directory, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise Conflict naming the process that holds it and what to do instead."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise Conflict(
                f"another kubejit demo or devcluster{who} is running in {self.path.parent}: stop it first "
                "(Ctrl-C in its terminal), or give this one a directory of its own with --dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: an unlocked file blocks nobody)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else ""
