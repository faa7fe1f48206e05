"""``kubejit audit``: --kind (checked against the audit trail's kinds), --limit and --after page through the trail,
--since takes what its help shows, and ``kubejit audit -o json verify`` prints JSON like ``audit verify -o json``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.audit import since_param
from tests.unit.cli_broker import CliWorld, connect, kubejit
from tests.unit.policies import policy, profile

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> CliWorld:
    made = CliWorld(policy=policy(profile()))
    connect(monkeypatch, made)
    for _ in range(3):
        created = kubejit("alice", "request", "payments-debug", "-n", "payments", "--reason", "INC-1", "-o", "json")
        kubejit("bob", "approve", created.json()["id"])
    return made


def test_kind_keeps_only_those_kinds_and_an_unknown_kind_is_a_usage_error(world: CliWorld) -> None:
    approved = kubejit("dave", "audit", "--kind", "request.approved", "--kind", "request.submitted", "-o", "json")
    assert {e["kind"] for e in approved.json_lines()} == {"request.approved", "request.submitted"}
    assert len(approved.json_lines()) == 6
    unknown = kubejit("dave", "audit", "--kind", "request.aproved")
    assert unknown.code == 2
    assert "--kind request.aproved: not an audit event kind; the kinds are request.submitted," in unknown.stderr


def test_limit_and_after_page_through_the_trail(world: CliWorld) -> None:
    first = kubejit("dave", "audit", "--limit", "4", "-o", "json").json_lines()
    assert [e["seq"] for e in first] == [1, 2, 3, 4]
    rest = kubejit("dave", "audit", "--after", "4", "-o", "json").json_lines()
    assert rest[0]["seq"] == 5
    page = kubejit("dave", "audit", "--after", "4", "--limit", "2", "--kind", "request.approved", "-o", "json")
    assert [e["kind"] for e in page.json_lines()] == ["request.approved", "request.approved"]
    assert all(e["seq"] > 4 for e in page.json_lines())
    told = kubejit("dave", "audit", "--limit", "2")
    assert "the next page is kubejit audit --after 2" in told.stderr
    mine = kubejit("alice", "audit", "--after", "1", "--kind", "request.submitted", "-o", "json").json_lines()
    assert [e["actor"] for e in mine] == ["alice", "alice"]  # her own requests' events only, paged too
    assert kubejit("bob", "audit", "--after", "1", "-o", "json").json_lines() == []  # bob requested nothing


@pytest.mark.parametrize(
    ("given", "back"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1d12h", timedelta(hours=36)),
    ],
)
def test_since_counts_back_what_its_help_shows(given: str, back: timedelta) -> None:
    assert since_param(given, NOW) == (NOW - back).isoformat()


def test_since_takes_a_time_and_refuses_anything_else() -> None:
    assert since_param("2026-11-28T10:00:00Z", NOW) == "2026-11-28T10:00:00+00:00"
    assert since_param("2026-11-28T10:00:00", NOW) == "2026-11-28T10:00:00+00:00"  # no zone: UTC
    with pytest.raises(InvalidInput, match=r"--since '7 days': give a time .* or how long ago \(30m, 2h, 7d\)"):
        since_param("7 days", NOW)


def test_the_groups_output_option_reaches_verify(world: CliWorld) -> None:
    grouped = kubejit("dave", "audit", "-o", "json", "verify")
    own = kubejit("dave", "audit", "verify", "-o", "json")
    assert grouped.stdout.startswith("{")
    assert own.stdout.startswith("{")
    assert grouped.code == own.code
