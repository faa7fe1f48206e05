"""Every review has a command: the approver sees pending requests, extensions and break-glass uses in
``kubejit list --pending`` and decides them with ``kubejit approve``/``deny`` (by a unique start of the id, too);
``request``, ``approve`` and ``extend`` say what happens next. The real CLI against the real API in-process."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from kubejit.domain.errors import InvalidInput
from kubejit.domain.pending_reviews import ReviewKind
from kubejit.entrypoints.cli.requests import _review_to_decide
from tests.unit.cli_broker import CliWorld, connect, kubejit
from tests.unit.policies import break_glass, policy, profile, quorum_of_two

REASON = ("--reason", "INC-7 checkout errors")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> CliWorld:
    made = CliWorld(
        policy=policy(profile(), quorum_of_two(), break_glass()),
        ids=["req-fdf5a00000000001", "req-fdf5b00000000002", "req-fc0c000000000003"],
    )
    connect(monkeypatch, made)
    return made


def _active_grant(world: CliWorld) -> str:
    created = kubejit("alice", "request", "payments-debug", "-n", "payments", "--for", "30m", *REASON, "-o", "json")
    request_id: str = created.json()["id"]
    assert kubejit("bob", "approve", request_id).code == 0
    world.activate(request_id)
    return request_id


def test_an_extension_says_it_waits_for_whom_and_the_approver_decides_it(world: CliWorld) -> None:
    grant = _active_grant(world)
    before = kubejit("alice", "get", grant, "-o", "json").json()["endsAt"]
    asked = kubejit("alice", "extend", grant, "--for", "15m", "--reason", "INC-7 still open")
    assert asked.code == 0
    assert "not extended yet: extension +15m waiting for 1 approval from group payments-leads (or an admin)" in (
        asked.stdout
    )
    assert "still ends" in asked.stdout

    pending = kubejit("bob", "list", "--pending")
    line = next(line for line in pending.stdout.splitlines() if grant in line)
    assert "extension +15m" in line
    assert [r["id"] for r in kubejit("bob", "list", "--pending", "-o", "json").json()] == [grant]
    assert kubejit("alice", "list", "--pending", "-o", "json").json() == []  # not hers to review

    decided = kubejit("bob", "approve", grant[:9])  # a unique start of the id
    assert decided.code == 0, decided.stderr
    assert "extension approved: the grant ends" in decided.stdout
    after = kubejit("alice", "get", grant, "-o", "json").json()
    assert after["endsAt"] > before
    assert after["extensions"][-1]["state"] == "approved"
    assert kubejit("bob", "list", "--pending", "-o", "json").json() == []


def test_an_extension_can_be_denied_and_the_end_stays(world: CliWorld) -> None:
    grant = _active_grant(world)
    before = kubejit("alice", "get", grant, "-o", "json").json()["endsAt"]
    kubejit("alice", "extend", grant, "--for", "15m", "--reason", "INC-7 still open")
    denied = kubejit("bob", "deny", grant, "--comment", "wrap it up", "-o", "json").json()
    assert denied["extensions"][-1]["state"] == "denied"
    assert denied["endsAt"] == before


def test_a_break_glass_use_is_reviewed_after_the_fact_by_command(world: CliWorld) -> None:
    used = kubejit("carol", "request", "payments-emergency", "-n", "payments", "--break-glass", *REASON, "-o", "json")
    grant = used.json()["id"]
    world.activate(grant)
    listed = kubejit("bob", "list", "--pending")
    assert "break-glass review" in next(line for line in listed.stdout.splitlines() if grant in line)
    assert grant not in kubejit("carol", "list", "--pending").stdout  # never one's own

    no_comment = kubejit("bob", "approve", grant)
    assert no_comment.code == 2
    assert "--comment" in no_comment.stderr
    reviewed = kubejit("bob", "approve", grant, "--comment", "INC-7 was real")
    assert reviewed.code == 0, reviewed.stderr
    assert "break-glass use of" in reviewed.stdout
    shown = kubejit("bob", "get", grant, "-o", "json").json()
    assert (shown["breakGlassReview"]["reviewer"], shown["breakGlassReview"]["verdict"]) == ("bob", "approve")
    assert kubejit("bob", "list", "--pending", "-o", "json").json() == []
    again = kubejit("bob", "approve", grant, "--comment", "again")
    assert again.code == 1
    assert "waits for a review" in again.stderr


def test_an_ended_break_glass_grant_still_waits_for_its_review(world: CliWorld) -> None:
    used = kubejit("carol", "request", "payments-emergency", "-n", "payments", "--break-glass", *REASON, "-o", "json")
    grant = used.json()["id"]
    world.activate(grant)
    world.clock.advance(hours=2)
    world.end(grant)
    assert [r["id"] for r in kubejit("erin", "list", "--pending", "-o", "json").json()] == [grant]  # an admin


def test_request_says_who_approves_and_approve_says_where_it_stands(world: CliWorld) -> None:
    asked = kubejit("alice", "request", "payments-admin", "-n", "payments", *REASON)
    assert asked.code == 0
    request_id = "req-fdf5a00000000001"
    assert (
        f"{request_id}: request waiting for 2 approvals from group payments-leads (or an admin): 0 of 2 so far"
        in asked.stderr
    )
    first = kubejit("bob", "approve", request_id)
    assert "still pending" in first.stdout
    assert "1 of 2 so far (bob)" in first.stdout
    second = kubejit("carol", "approve", request_id)
    assert "approved: access starts as soon as kubejit binds it" in second.stdout


def test_a_prefix_names_one_request_or_says_which_it_could_be(world: CliWorld) -> None:
    for _ in range(2):
        kubejit("alice", "request", "payments-debug", "-n", "payments", *REASON)
    ambiguous = kubejit("bob", "approve", "req-fdf5")
    assert ambiguous.code == 2
    assert "req-fdf5 is the start of 2 request ids (req-fdf5a00000000001, req-fdf5b00000000002)" in ambiguous.stderr
    unknown = kubejit("bob", "approve", "req-0d")
    assert unknown.code == 1
    assert "there is no request req-0d" in unknown.stderr
    assert kubejit("bob", "approve", "req-fdf5b", "-o", "json").json()["id"] == "req-fdf5b00000000002"
    assert kubejit("alice", "get", "req-fdf5a", "-o", "json").json()["state"] == "pending"
    assert kubejit("dave", "audit", "--grant", "req-fdf5b", "-o", "json").json_lines()[-1]["kind"] == (
        "request.quorum-reached"
    )
    kubejit("carol", "request", "payments-debug", "-n", "payments", *REASON)  # req-fc0c...: hidden from alice
    assert kubejit("bob", "get", "req-fc", "-o", "json").json()["requester"] == "carol"
    hidden = kubejit("alice", "get", "req-fc")
    assert hidden.code == 1
    assert "there is no request req-fc (nor one whose id starts with it) that you can see" in hidden.stderr
    only_hers = kubejit("alice", "get", "req-f")
    assert "req-f is the start of 2 request ids" in only_hers.stderr  # carol's is not counted, nor named
    assert "req-fc0c" not in only_hers.stderr


def test_several_reviews_on_one_id_ask_which() -> None:
    leads = {"users": [], "groups": ["payments-leads"], "claims": []}
    both = {  # what the API answers: the reviews that wait are in ``awaiting`` (the CLI does not work them out)
        "id": "req-1",
        "state": "active",
        "requester": "carol",
        "extensions": [{"state": "pending", "duration": "15m"}],
        "breakGlass": True,
        "breakGlassReview": None,
        "awaiting": [
            {"kind": "extension", "approvers": leads, "required": 1, "approvals": 0, "by": [], "duration": "15m"},
            {"kind": "break-glass", "approvers": leads, "required": 1, "approvals": 0, "by": [], "duration": None},
        ],
    }
    with pytest.raises(InvalidInput, match="choose one with --review extension or --review break-glass"):
        _review_to_decide(both, None)
    assert _review_to_decide(both, ReviewKind.BREAK_GLASS) is ReviewKind.BREAK_GLASS


def test_ids_stay_whole_in_tables(world: CliWorld) -> None:
    long_reason = ("--reason", "INC-7 " + "the checkout page times out for every customer in the EU " * 3)
    kubejit("alice", "request", "payments-debug", "-n", "payments", *long_reason)
    piped = kubejit("bob", "list")  # not a terminal: nothing is cut, nothing wraps
    assert len(piped.stdout.splitlines()) == 2
    assert "req-fdf5a00000000001" in piped.stdout
    narrow = kubejit("bob", "list", "--pending", env={"COLUMNS": "70"})
    row = narrow.stdout.splitlines()[1]
    assert row.startswith("req-fdf5a00000000001 ")
    assert row.rstrip().endswith("…")  # the reason was cut, not the id
    assert len(narrow.stdout.splitlines()) == 2


def test_the_break_glass_limit_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    limited = break_glass()
    assert limited.break_glass is not None
    limited = replace(limited, break_glass=replace(limited.break_glass, max_duration=timedelta(minutes=15)))
    connect(monkeypatch, CliWorld(policy=policy(profile(), limited)))
    args = ("request", "payments-emergency", "-n", "payments", "--break-glass", *REASON)
    refused = kubejit("carol", *args, "--for", "20m")
    assert refused.code == 1
    assert "20m is longer than the break-glass limit of profile payments-emergency (breakGlass.maxDuration 15m)" in (
        refused.stderr
    )
    assert kubejit("carol", *args, "--for", "15m").code == 0
