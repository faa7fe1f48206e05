"""The policy file watcher: a change of content (not of time) calls the reload once; an unreadable file is not
a change; the loop survives a reload that raises."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from kubejit.adapters.policy_watch import PolicyFileWatcher


def test_new_content_calls_the_reload_once_and_a_touch_does_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("a: 1\n")
    reloads: list[str] = []
    watcher = PolicyFileWatcher(policy, lambda: reloads.append(policy.read_text()), interval=timedelta(seconds=1))
    assert watcher.check() is False
    os.utime(policy, (1, 1))  # the time changes, the content does not
    assert watcher.check() is False
    policy.write_text("a: 2\n")
    assert watcher.check() is True
    assert watcher.check() is False
    assert reloads == ["a: 2\n"]


def test_a_configmap_style_symlink_swap_is_seen(tmp_path: Path) -> None:
    """The kubelet updates a mounted ConfigMap by pointing ..data at a new directory."""
    for version, text in (("v1", "a: 1\n"), ("v2", "a: 2\n")):
        (tmp_path / version).mkdir()
        (tmp_path / version / "policy.yaml").write_text(text)
    (tmp_path / "..data").symlink_to("v1")
    (tmp_path / "policy.yaml").symlink_to("..data/policy.yaml")
    reloads: list[int] = []
    watcher = PolicyFileWatcher(tmp_path / "policy.yaml", lambda: reloads.append(1), interval=timedelta(seconds=1))
    (tmp_path / "..data_tmp").symlink_to("v2")
    (tmp_path / "..data_tmp").replace(tmp_path / "..data")
    assert watcher.check() is True
    assert reloads == [1]


def test_an_unreadable_file_is_not_a_change(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("a: 1\n")
    reloads: list[int] = []
    watcher = PolicyFileWatcher(policy, lambda: reloads.append(1), interval=timedelta(seconds=1))
    policy.unlink()
    assert watcher.check() is False
    policy.write_text("a: 1\n")  # back as it was: nothing to reload
    assert watcher.check() is False
    assert reloads == []


def test_the_loop_keeps_watching_after_a_reload_raises(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("a: 1\n")
    first, seen = threading.Event(), threading.Event()
    calls: list[int] = []

    def reload() -> None:
        calls.append(1)
        if len(calls) == 1:
            first.set()
            raise RuntimeError("the cluster did not answer")
        seen.set()

    watcher = PolicyFileWatcher(policy, reload, interval=timedelta(milliseconds=20))
    watcher.start()
    try:
        policy.write_text("a: 2\n")
        assert first.wait(5)
        policy.write_text("a: 3\n")
        assert seen.wait(5)
    finally:
        watcher.stop()
    assert len(calls) == 2


def test_the_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        PolicyFileWatcher(tmp_path / "p", lambda: None, interval=timedelta(0))
