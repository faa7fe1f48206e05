"""One running control plane per output directory: a lock file that the running one holds.

``make demo`` always writes to ``/tmp/kubejit-demo``; a second one started while the first runs would overwrite
its kubeconfigs, env files and database under it. :class:`DirectoryLock` takes an exclusive ``flock`` on
``<dir>/.kubejit.lock`` before anything is written there (``DevCluster.start`` does it when it is given a
directory) and keeps it until stop. The kernel drops the lock when the process dies, so the file a killed demo
leaves behind blocks nobody; the pid written in it only names the running one in the message.

The directory is shared ``/tmp`` by default, and the demo writes tokens and keys there: a directory that
another user could have made first (not ours, a symlink, or writable by others) is refused before anything is
written into it.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from kubejit.domain.errors import Conflict, InvalidInput

LOCK_NAME = ".kubejit.lock"


class DirectoryLock:
    """An exclusive, non-blocking lock on a directory, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise Conflict naming the process that holds it and what to do instead."""
        require_private_directory(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
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


def require_private_directory(directory: Path) -> None:
    """Refuse a directory that is a symlink, belongs to another user, or that group or others may write."""
    info = os.lstat(directory)
    problem = ""
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory (a symlink or a file)"
    elif info.st_uid != os.getuid():
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & 0o022:
        problem = f"may be written by others (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise InvalidInput(
            f"{directory} {problem}, and the demo writes tokens and keys there: remove it, or give a directory "
            "of your own with --dir"
        )


def _read_pid(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else ""
