"""Refusals of unknown callers: counted by reason and logged at most once per interval, with nothing lost."""

from __future__ import annotations

import logging

import pytest

from kubejit.entrypoints.gateway._anonymous import AnonymousRefusals


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_first_refusal_is_logged_at_once_and_a_burst_as_one_line(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    refusals = AnonymousRefusals(interval=10, monotonic=ticks)
    with caplog.at_level(logging.WARNING, logger="kubejit.gateway"):
        refusals.note("Unauthorized", "10.0.0.7", "the token is expired")
        for _ in range(99):
            ticks.now += 0.01
            refusals.note("Unauthorized", "10.0.0.8", "not a signed JWT")
        refusals.note("BadRequest", "10.0.0.9", "request path '/x/../y' has a '..' segment")
        assert len(warnings(caplog)) == 1
        assert not refusals.due()
        ticks.now += 10
        assert refusals.due()
        refusals.flush()
    first, burst = warnings(caplog)
    assert first.startswith("refused 1 request(s) from unknown callers (Unauthorized 1; 1 since start)")
    assert "refused 100 request(s) from unknown callers in the last 11 s (BadRequest 1, Unauthorized 99; 101" in burst
    assert "last from 10.0.0.9" in burst
    assert refusals.total == 101
    assert refusals.since_start == {"Unauthorized": 100, "BadRequest": 1}


def test_nothing_is_logged_when_nothing_was_refused(caplog: pytest.LogCaptureFixture) -> None:
    refusals = AnonymousRefusals(monotonic=Ticks())
    with caplog.at_level(logging.WARNING, logger="kubejit.gateway"):
        refusals.flush()
    assert not refusals.due()
    assert warnings(caplog) == []


def test_a_long_or_multi_line_message_is_one_short_line(caplog: pytest.LogCaptureFixture) -> None:
    refusals = AnonymousRefusals(monotonic=Ticks())
    with caplog.at_level(logging.WARNING, logger="kubejit.gateway"):
        refusals.note("Unauthorized", "::1", "line one\nline two " + "x" * 500)
    (line,) = warnings(caplog)
    assert "\n" not in line
    assert line.endswith("...")
    assert len(line) < 400
