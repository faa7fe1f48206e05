"""Durations are written like Kubernetes and Go write them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubejit.domain.durations import format_duration, parse_duration
from kubejit.domain.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        (" 2h ", timedelta(hours=2)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["90x", "", "30", "m", "-5m", "0s", "1h 30m", "1d"])
def test_refused_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidInput, match="write it like 45s, 30m, 1h or 1h30m"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**9))
def test_format_round_trips(millis: int) -> None:
    duration = timedelta(milliseconds=millis)
    assert parse_duration(format_duration(duration)) == duration
