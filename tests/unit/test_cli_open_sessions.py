"""``kubejit sessions``: the sessions open through the gateways as ``GET /api/v1/sessions`` lists them for the
caller, a table (ids whole, even in a narrow terminal) or ``-o json``; a session whose gateway went silent says
why it is unconfirmed. The real CLI against the real API in-process (``tests/unit/cli_broker``)."""

from __future__ import annotations

from typing import Any

import pytest

from kubejit.domain.audit import AuditKind
from kubejit.domain.live_sessions import GATEWAY_SILENCE
from tests.unit.cli_broker import CliWorld, connect, kubejit
from tests.unit.policies import policy, profile

GRANT = "req-5e55000000000001"
GATEWAY = "gateway-eu-1/0123456789abcdef"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> CliWorld:
    made = CliWorld(policy=policy(profile()), ids=[GRANT])
    connect(monkeypatch, made)
    asked = kubejit("alice", "request", "payments-debug", "-n", "payments", "--for", "30m", "--reason", "INC-9")
    assert asked.code == 0, asked.stderr
    assert kubejit("bob", "approve", GRANT).code == 0
    made.activate(GRANT)
    return made


def _started(world: CliWorld, kind: str, **data: Any) -> None:
    """What the broker records when a gateway process reports a session's start (and hears from it)."""
    body = {"namespace": "payments", "phase": "start", "session": "5e5", "gatewayInstance": GATEWAY, **data}
    with world.store() as uow:
        uow.audit.append(kind=kind, actor="alice", request_id=GRANT, data=body, at=world.clock.now())
        uow.idempotency.set_activity_mark(GATEWAY, 1, world.clock.now())
        uow.commit()


def test_the_sessions_are_a_table_with_whole_ids_and_json_for_scripts(world: CliWorld) -> None:
    assert kubejit("alice", "sessions").stdout.strip() == "no open sessions that you can see"
    _started(world, AuditKind.ACTIVITY_EXEC, resource="pods/exec", name="api-7f", command=["sh", "-c", "top -b"])
    _started(world, AuditKind.ACTIVITY_REQUEST, resource="configmaps", verb="watch", session="w1")

    table = kubejit("alice", "sessions", env={"COLUMNS": "60"})  # narrower than the table
    assert table.code == 0, table.stderr
    header, exec_line, watch_line = table.stdout.splitlines()
    assert header.split() == ["grant", "user", "kind", "on", "since", "gateway", "standing", "command"]
    for line, kind in ((exec_line, "exec"), (watch_line, "watch")):
        assert line.startswith(GRANT)
        assert GATEWAY in line  # the ids are never cut
        assert f" {kind} " in line
        assert " open " in line
    assert "payments/configmaps" in watch_line

    listed = kubejit("dave", "sessions", "-o", "json").json()  # an auditor sees them too
    assert [(s["kind"], s["where"], s["command"]) for s in listed] == [
        ("exec", "payments/api-7f", ["sh", "-c", "top -b"]),
        ("watch", "payments/configmaps", []),
    ]
    assert kubejit("bob", "sessions", "-o", "json").json() == []  # the approver does not see its events


def test_a_session_whose_gateway_went_silent_says_why(world: CliWorld) -> None:
    _started(world, AuditKind.ACTIVITY_EXEC, resource="pods/exec", name="api-7f", command=["bash"])
    world.clock.at += GATEWAY_SILENCE
    shown = kubejit("alice", "sessions")
    assert shown.code == 0, shown.stderr
    assert " unconfirmed " in shown.stdout.splitlines()[1]
    assert f"unconfirmed: {GRANT} exec on payments/api-7f: gateway {GATEWAY} has not been heard from" in (
        shown.stdout.replace("\n", " ")
    )
