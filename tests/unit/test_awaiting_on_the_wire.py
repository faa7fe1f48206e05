"""What a request waits for is on the wire as data (``awaiting``), not only as prose (``notes``): its kind, who
may decide it, how many approvals it takes and who gave one. The real CLI against the real API in-process; the
CLI's text is built from ``awaiting``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kubejit.entrypoints.cli import requests as cli_requests
from tests.unit.cli_broker import CliWorld, connect, kubejit
from tests.unit.policies import break_glass, policy, profile, quorum_of_two

REASON = ("--reason", "INC-7 checkout errors")
LEADS = {"users": [], "groups": ["payments-leads"], "claims": []}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> CliWorld:
    made = CliWorld(policy=policy(profile(), quorum_of_two(), break_glass()))
    connect(monkeypatch, made)
    return made


def _awaiting(kind: str, required: int, by: list[str], duration: str | None = None) -> dict[str, Any]:
    return {
        "kind": kind,
        "approvers": LEADS,
        "required": required,
        "approvals": len(by),
        "by": by,
        "duration": duration,
    }


def test_a_quorum_request_says_how_many_approvals_from_whom_and_who_gave_them(world: CliWorld) -> None:
    created = kubejit("alice", "request", "payments-admin", "-n", "payments", *REASON, "-o", "json").json()
    assert created["awaiting"] == [_awaiting("request", 2, [])]  # in the answer to the new request too
    request_id = created["id"]
    once = kubejit("bob", "approve", request_id, "-o", "json").json()
    assert once["awaiting"] == [_awaiting("request", 2, ["bob"])]
    assert kubejit("alice", "get", request_id, "-o", "json").json()["awaiting"] == [_awaiting("request", 2, ["bob"])]
    listed = kubejit("carol", "list", "--pending", "-o", "json").json()
    assert [r["awaiting"] for r in listed] == [[_awaiting("request", 2, ["bob"])]]
    twice = kubejit("carol", "approve", request_id, "-o", "json").json()
    assert (twice["state"], twice["awaiting"]) == ("approved", [])


def test_an_extension_and_a_break_glass_review_are_awaited_with_their_kind(world: CliWorld) -> None:
    grant = kubejit("alice", "request", "payments-debug", "-n", "payments", *REASON, "-o", "json").json()["id"]
    kubejit("bob", "approve", grant)
    world.activate(grant)
    extended = kubejit("alice", "extend", grant, "--for", "15m", "--reason", "INC-7", "-o", "json").json()
    assert extended["awaiting"] == [_awaiting("extension", 1, [], "15m")]

    used = kubejit("carol", "request", "payments-emergency", "-n", "payments", "--break-glass", *REASON, "-o", "json")
    assert used.json()["awaiting"] == [_awaiting("break-glass", 1, [])]


def test_the_cli_text_comes_from_awaiting_not_from_the_notes(capsys: pytest.CaptureFixture[str]) -> None:
    answer = {
        "id": "req-1",
        "state": "pending",
        "breakGlass": False,
        "autoApproved": False,
        "profile": "payments-admin",
        "namespaces": ["payments"],
        "duration": "30m",
        "requester": "alice",
        "reason": "INC-7",
        "reviews": [],
        "startsAt": None,
        "endedAt": None,
        "awaiting": [
            {
                "kind": "request",
                "approvers": {"users": ["erin"], "groups": ["leads"], "claims": [{"repo": "org/*"}]},
                "required": 3,
                "approvals": 1,
                "by": ["bob"],
                "duration": None,
            }
        ],
        "notes": ["something else entirely"],
    }
    cli_requests._show(answer)
    shown = capsys.readouterr().out
    assert (
        "waiting    request waiting for 3 approvals from group leads, user erin, claims {repo=org/*} (or an admin): "
        "1 of 3 so far (bob)" in shown
    )
    assert "something else entirely" not in shown
    answer["awaiting"] = []
    cli_requests._show(answer)
    assert "waiting" not in capsys.readouterr().out  # nothing awaited, nothing said (whatever the notes say)


def test_the_openapi_document_describes_awaiting(world: CliWorld) -> None:
    schemas = TestClient(world.app).get("/openapi.json").json()["components"]["schemas"]
    request_out = schemas["RequestOut"]["properties"]["awaiting"]
    assert request_out["items"] == {"$ref": "#/components/schemas/AwaitingOut"}
    awaiting = schemas["AwaitingOut"]
    assert set(awaiting["required"]) == {"kind", "approvers", "required", "approvals", "by", "duration"}
    assert schemas["ReviewKind"]["enum"] == ["request", "extension", "break-glass"]
    assert set(schemas["ApproversOut"]["required"]) == {"users", "groups", "claims"}


def test_request_says_what_it_waits_for_once(world: CliWorld) -> None:
    asked = kubejit("alice", "request", "payments-admin", "-n", "payments", *REASON)
    assert asked.code == 0
    said = asked.stdout + asked.stderr
    assert said.count("request waiting for 2 approvals from group payments-leads (or an admin)") == 1
    assert "waiting" not in asked.stdout  # on stderr, beside the request id
    used = kubejit("carol", "request", "payments-emergency", "-n", "payments", "--break-glass", *REASON)
    assert "waiting    break-glass use: waiting for its review after the fact by group payments-leads" in used.stdout
