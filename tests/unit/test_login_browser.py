"""`kubejit login` hands the URL to the browser and goes on: a $BROWSER command that keeps running (as a browser
started from a terminal does) must not hold up the sign-in, or the browser's redirect would wait for it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kubejit.entrypoints.cli.login import _browser


def test_the_browser_is_opened_without_waiting_for_it_to_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release, opened = tmp_path / "release", tmp_path / "opened"
    browser = tmp_path / "browser"
    # The "browser" waits (up to 20 s) for the test to let it go, then records the URL it was given.
    browser.write_text(
        f'#!/bin/sh\nfor i in $(seq 200); do [ -e {release} ] && break; sleep 0.1; done\necho "$1" > {opened}\n'
    )
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    opener = _browser()
    assert opener is not None
    assert opener("http://127.0.0.1:1/authorize") is True
    assert not opened.exists(), "login waited for the browser command to exit"
    release.touch()
    for _ in range(100):
        if opened.exists() and opened.read_text():
            break
        time.sleep(0.1)
    assert opened.read_text() == "http://127.0.0.1:1/authorize\n"
