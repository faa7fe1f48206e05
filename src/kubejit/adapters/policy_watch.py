"""Notices when the policy file's content changes, so the broker reloads it without a signal or a restart.

Why it exists: in Kubernetes the policy is a ConfigMap mounted as a file; the kubelet swaps the file's contents
in place (an atomic symlink swap of ``..data``) when the ConfigMap changes, and nobody sends the broker SIGHUP.
A thread reads the file every ``interval`` and calls ``on_change`` when its SHA-256 differs from the one last seen
(the content, not the mtime, decides: a swap may keep times, a touch changes nothing). The broker's reload keeps
the previous policy when the new one is refused and audits the refusal, so a bad ConfigMap is visible and
harmless. ``kubejit.bootstrap`` starts it; the interval is ``policyReloadInterval`` in the broker config.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)


def content_digest(path: Path) -> str | None:
    """The SHA-256 of the file's bytes, or None while it cannot be read (mid-swap, removed)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class PolicyFileWatcher:
    """Calls ``on_change`` (from its own thread) each time the file at ``path`` holds new content.

    ``check()`` is one look, for tests and for the loop; ``start()``/``stop()`` run the loop.
    """

    def __init__(self, path: Path, on_change: Callable[[], None], *, interval: timedelta) -> None:
        if interval <= timedelta(0):
            raise ValueError("the policy reload interval must be positive")
        self._path = path
        self._on_change = on_change
        self._interval = interval.total_seconds()
        self._seen = content_digest(path)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Look once; True (after calling ``on_change``) when the content differs from what was seen before.
        An unreadable file is not a change: the previous policy stays until a readable one appears."""
        digest = content_digest(self._path)
        if digest is None or digest == self._seen:
            return False
        self._seen = digest
        self._on_change()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="policy-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.check()
            except Exception:  # a reload must never end the watching: the next change is tried again
                log.exception("reloading the policy after a change of %s failed", self._path)
