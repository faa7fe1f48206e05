"""Child supervision: readiness is polled, and a failed start explains itself with the log's last lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubejit.devcluster.process import ManagedProcess, free_port, wait_until_ready
from kubejit.domain.errors import Unavailable


def test_a_child_that_exits_early_reports_its_log_tail(tmp_path: Path) -> None:
    child = ManagedProcess(
        "broken", ["sh", "-c", "echo starting; echo 'bad flag --frobnicate' >&2; exit 3"], tmp_path / "broken.log"
    )
    child.start()
    with pytest.raises(Unavailable) as raised:
        wait_until_ready(child, lambda: False, what="ready", timeout=10)
    message = str(raised.value)
    assert "broken exited with code 3 before ready" in message
    assert "bad flag --frobnicate" in message


def test_a_child_that_never_gets_ready_times_out_with_its_log_tail(tmp_path: Path) -> None:
    child = ManagedProcess("slow", ["sh", "-c", "echo still warming up; sleep 30"], tmp_path / "slow.log")
    child.start()
    try:
        with pytest.raises(Unavailable, match="slow was not ready after 0s") as raised:
            wait_until_ready(child, lambda: False, what="ready", timeout=0.3)
        assert "still warming up" in str(raised.value)
    finally:
        child.stop(timeout=1)
    assert child.exit_code() is not None


def test_readiness_is_reported_as_soon_as_the_check_passes(tmp_path: Path) -> None:
    child = ManagedProcess("sleeper", ["sleep", "30"], tmp_path / "sleeper.log")
    child.start()
    calls = iter([False, False, True])
    try:
        waited = wait_until_ready(child, lambda: next(calls), what="ready", timeout=10, interval=0.01)
    finally:
        child.stop()
    assert waited < 5


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    child = ManagedProcess("stubborn", ["sh", "-c", "trap '' TERM; echo up; sleep 30"], tmp_path / "s.log")
    child.start()
    wait_until_ready(child, lambda: "up" in child.tail(), what="up", timeout=10, interval=0.01)
    child.stop(timeout=0.2)
    assert child.exit_code() == -9


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
