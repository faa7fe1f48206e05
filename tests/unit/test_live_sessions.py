"""Open gateway sessions told from the audit trail: starts paired with their ends (by the session's id, or in
order for gateways that did not number sessions), crashed gateways, ended grants; who sees which session
(the access and audit services' rules, not a copy); ``GET /api/v1/sessions``; the console's stream message."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import TYPE_CHECKING, Any, cast

from fastapi.testclient import TestClient

from kubejit.domain.audit import AuditEvent, AuditKind, chain_next
from kubejit.domain.live_sessions import (
    CLOSING_GRACE,
    GATEWAY_SILENCE,
    Standing,
    moves_sessions,
    standing,
    still_open,
)
from kubejit.domain.workflow import State
from kubejit.entrypoints.api.app import create_app
from kubejit.services.live_sessions import LiveSessions
from tests.unit.policies import ALICE, BOB, CAROL, DAVE, GRANTED_AT, active_grant
from tests.unit.test_api_routes import StandInBroker

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

T0 = datetime(2026, 12, 1, 10, 2, tzinfo=UTC)
_seq = count(1)


def event(kind: str, phase: str, *, resource: str = "pods/exec", session: str = "s1", **data: Any) -> AuditEvent:
    body: dict[str, Any] = {
        "resource": resource,
        "namespace": "payments",
        "name": "api-7f",
        "phase": phase,
        "gatewayInstance": "gw/1",
        "gateway": "gateway",
        **data,
    }
    if session:
        body["session"] = session
    return replace(chain_next(None, kind=kind, actor="alice", request_id="req-1", data=body, at=T0), seq=next(_seq))


def exec_start(session: str = "s1", **data: Any) -> AuditEvent:
    return event(AuditKind.ACTIVITY_EXEC, "start", session=session, **{"command": ["bash"], **data})


def exec_end(session: str = "s1", **data: Any) -> AuditEvent:
    return event(AuditKind.ACTIVITY_SESSION_CLOSED, "end", session=session, **data)


def test_a_start_without_its_end_is_open_with_what_it_ran() -> None:
    (start,) = still_open([exec_start()])
    assert (start.kind, start.namespace, start.pod, start.command) == ("exec", "payments", "api-7f", ("bash",))
    assert (start.user, start.grant_id, start.gateway, start.at) == ("alice", "req-1", "gw/1", T0)


def test_a_start_and_its_end_leave_nothing_open() -> None:
    assert still_open([exec_start(), exec_end()]) == []


def test_ends_pair_with_their_own_start_by_the_sessions_id() -> None:
    first, second = exec_start("a", command=["bash"]), exec_start("b", command=["top"])
    (left,) = still_open([first, second, exec_end("b")])
    assert left.command == ("bash",)  # not the oldest: the one whose end was not recorded


def test_the_same_id_on_another_gateway_process_is_another_session() -> None:
    (left,) = still_open([exec_start("a"), exec_start("a", gatewayInstance="gw/2"), exec_end("a")])
    assert left.gateway == "gw/2"


def test_unnumbered_sessions_pair_in_order_per_pod() -> None:
    starts = [exec_start("", name="p1"), exec_start("", name="p1"), exec_start("", name="p2")]
    left = still_open([*starts, exec_end("", name="p1")])
    assert [s.pod for s in left] == ["p1", "p2"]
    assert left[0].seq == starts[1].seq


def test_attach_is_a_session_and_plain_requests_watches_and_port_forwards_are_not() -> None:
    attach = event(AuditKind.ACTIVITY_REQUEST, "start", resource="pods/attach", session="t")
    plain = event(AuditKind.ACTIVITY_REQUEST, "", resource="pods", session="")
    forward = event(AuditKind.ACTIVITY_REQUEST, "", resource="pods/portforward", session="")
    (start,) = still_open([attach, plain, forward])
    assert (start.kind, start.command) == ("attach", ())
    assert still_open([attach, event(AuditKind.ACTIVITY_REQUEST, "end", resource="pods/attach", session="t")]) == []
    assert not moves_sessions(plain)
    assert moves_sessions(attach)


def test_a_refusal_of_an_exec_is_no_session() -> None:
    refused = event(AuditKind.ACTIVITY_REFUSED, "start")
    assert still_open([refused]) == []
    assert not moves_sessions(refused)


def test_an_end_without_a_start_is_ignored() -> None:
    assert still_open([exec_end("x"), exec_start("y")])[0].session == "y"


def test_a_session_of_an_active_grant_is_open() -> None:
    (rated,) = standing(still_open([exec_start()]), {"req-1": None}, T0 + timedelta(hours=1))
    assert rated.standing is Standing.OPEN


def test_a_session_of_a_grant_that_just_ended_is_closing_then_unconfirmed() -> None:
    """The gateway that held it records its end when the grant ends; when that never comes, it probably died."""
    starts = still_open([exec_start()])
    ended = T0 + timedelta(minutes=5)
    (closing,) = standing(starts, {"req-1": ended}, ended + CLOSING_GRACE - timedelta(seconds=1))
    assert closing.standing is Standing.CLOSING
    (gone,) = standing(starts, {"req-1": ended}, ended + CLOSING_GRACE)
    assert gone.standing is Standing.UNCONFIRMED
    assert "gw/1" in gone.why
    assert "10:07:00" in gone.why


def test_a_grant_the_caller_does_not_know_counts_as_ended_at_the_start() -> None:
    (rated,) = standing(still_open([exec_start()]), {}, T0 + CLOSING_GRACE)
    assert rated.standing is Standing.UNCONFIRMED


# ---- the service, the route and the stream over the real services on fakes -----------------------------------


def world(*events: AuditEvent, **grant: Any) -> StandInBroker:
    broker = StandInBroker()
    broker.clock.at = GRANTED_AT + timedelta(minutes=5)
    with broker.store() as uow:
        uow.requests.add(active_grant(**grant))
        for e in events:
            uow.audit.append(kind=e.kind, actor=e.actor, request_id=e.request_id, data=dict(e.data), at=GRANTED_AT)
        uow.commit()
    return broker


def read(broker: StandInBroker, who: Any) -> list[tuple[str, str]]:
    found = LiveSessions(broker.access, broker.audit, broker.clock, broker.store).read(who)
    return [(g.grant.id, str(s.standing)) for g in found for s in g.sessions]


def test_the_requester_and_auditors_see_a_session_and_approvers_and_strangers_do_not() -> None:
    broker = world(exec_start())
    assert read(broker, ALICE) == [("req-1", "open")]
    assert read(broker, DAVE) == [("req-1", "open")]  # auditor
    assert read(broker, BOB) == []  # approver of the profile: sees the grant, not its events (as in the audit)
    assert read(broker, CAROL) == []
    assert [r.id for r in broker.access.list(BOB, states=[State.ACTIVE])] == ["req-1"]


def test_a_revoked_grants_unreported_session_is_listed_unconfirmed_for_an_hour() -> None:
    ended = GRANTED_AT + timedelta(minutes=2)
    broker = world(exec_start(), state=State.REVOKED, ended_at=ended)
    assert read(broker, DAVE) == [("req-1", "unconfirmed")]
    broker.clock.at = ended + timedelta(hours=1)
    assert read(broker, DAVE) == []
    assert read(world(exec_start(), exec_end(), state=State.REVOKED, ended_at=ended), DAVE) == []


def test_a_grant_past_its_end_time_no_longer_counts_as_active() -> None:
    broker = world(exec_start())
    broker.clock.at = GRANTED_AT + timedelta(minutes=30, seconds=10)  # the keeper has not expired it yet
    assert read(broker, DAVE) == [("req-1", "closing")]


def test_the_api_lists_sessions_as_the_caller_may_see_them() -> None:
    client = TestClient(create_app(cast("Broker", world(exec_start()))))
    (listed,) = client.get("/api/v1/sessions", headers={"Authorization": "Bearer alice"}).json()
    assert listed["grantId"] == "req-1"
    assert listed["command"] == ["bash"]
    assert listed["standing"] == "open"
    assert listed["pod"] == "api-7f"
    assert listed["gateway"] == "gw/1"
    assert listed["profile"] == "payments-debug"
    assert client.get("/api/v1/sessions", headers={"Authorization": "Bearer bob"}).json() == []
    assert client.get("/api/v1/sessions").status_code == 401


def test_the_stream_sends_the_list_first_then_only_when_it_changes() -> None:
    from kubejit.entrypoints.console._live_sessions import SessionsFeed

    broker = world(exec_start())
    visitor = type("V", (), {"broker": broker, "who": DAVE})()
    feed = SessionsFeed(visitor)  # type: ignore[arg-type]

    async def run() -> list[bytes]:
        first = await feed.update(moved=False)
        same = await feed.update(moved=True)
        with broker.store() as uow:
            e = exec_end()
            uow.audit.append(kind=e.kind, actor=e.actor, request_id=e.request_id, data=dict(e.data), at=GRANTED_AT)
            uow.commit()
        unread = await feed.update(moved=False)  # nothing said it moved, and it was read moments ago
        closed = await feed.update(moved=True)
        return [first, same, unread, closed]

    first, same, unread, closed = asyncio.run(run())
    assert first.startswith(b"event: sessions\ndata: ")
    (row,) = json.loads(first.split(b"data: ", 1)[1])
    assert (row["command"], row["kind"], row["grant"]) == ("bash", "exec", "req-1")
    assert same == b""
    assert unread == b""
    assert closed == b"event: sessions\ndata: []\n\n"


def _as_events(records: list[dict[str, Any]]) -> list[AuditEvent]:
    """What the broker's feed makes of a gateway's records (tests/unit/test_gateway_stream_start drives them)."""
    return [
        AuditEvent(n, T0, str(r["kind"]), r["user"], r["grant"], {k: v for k, v in r.items() if k != "kind"})
        for n, r in enumerate(records, start=1)
    ]


def test_the_gateways_own_records_open_and_close_a_session() -> None:
    from tests.unit.test_gateway_stream_start import _attach

    for kind in ("exec", "attach"):
        during, emitted = asyncio.run(_attach(kind))
        (start,) = still_open(_as_events(during))
        assert start.kind == kind
        assert start.session
        assert emitted[0]["session"] == emitted[1]["session"]
        assert still_open(_as_events(emitted)) == []


# ---- watches, port-forwards, and gateways not heard from -------------------------------------------------------


def test_watches_and_port_forwards_recorded_at_their_start_are_sessions() -> None:
    watch = event(AuditKind.ACTIVITY_REQUEST, "start", resource="pods", session="w", verb="watch", name="")
    forward = event(AuditKind.ACTIVITY_REQUEST, "start", resource="pods/portforward", session="f", verb="create")
    listed = still_open([watch, forward])
    assert [(s.kind, s.where, s.resource) for s in listed] == [
        ("watch", "payments/pods", "pods"),
        ("port-forward", "payments/api-7f", "pods/portforward"),
    ]
    ends = [
        event(AuditKind.ACTIVITY_REQUEST, "end", resource="pods", session="w", verb="watch", name=""),
        event(AuditKind.ACTIVITY_REQUEST, "end", resource="pods/portforward", session="f", verb="create"),
    ]
    assert still_open([watch, forward, *ends]) == []
    assert all(moves_sessions(e) for e in (watch, forward, *ends))
    assert not moves_sessions(event(AuditKind.ACTIVITY_REQUEST, "", resource="pods", session="", verb="watch"))


def test_a_session_whose_gateway_went_silent_is_unconfirmed_while_its_grant_is_active() -> None:
    starts = still_open([exec_start()])
    now = T0 + timedelta(minutes=10)
    (heard,) = standing(starts, {"req-1": None}, now, heard={"gw/1": now - GATEWAY_SILENCE + timedelta(seconds=1)})
    assert heard.standing is Standing.OPEN
    (silent,) = standing(starts, {"req-1": None}, now, heard={"gw/1": now - GATEWAY_SILENCE})
    assert silent.standing is Standing.UNCONFIRMED
    assert "gw/1" in silent.why
    assert "10:11:30" in silent.why  # when it was last heard from
    (unknown,) = standing(starts, {"req-1": None}, now, heard={"gw/2": now - timedelta(hours=1)})
    assert unknown.standing is Standing.OPEN  # another process's silence says nothing of this one
    (ended,) = standing(starts, {"req-1": now}, now, heard={"gw/1": now - GATEWAY_SILENCE})
    assert ended.standing is Standing.UNCONFIRMED  # not "closing": no live gateway is closing it


def test_the_service_reads_when_each_gateway_was_last_heard_from() -> None:
    broker = world(exec_start())
    with broker.store() as uow:
        uow.idempotency.set_activity_mark("gw/1", 1, broker.clock.at)
        uow.commit()
    assert read(broker, DAVE) == [("req-1", "open")]
    broker.clock.at += GATEWAY_SILENCE
    assert read(broker, DAVE) == [("req-1", "unconfirmed")]
    without_store = LiveSessions(broker.access, broker.audit, broker.clock).read(DAVE)
    assert [str(s.standing) for g in without_store for s in g.sessions] == ["open"]
    client = TestClient(create_app(cast("Broker", broker)))
    (listed,) = client.get("/api/v1/sessions", headers={"Authorization": "Bearer dave"}).json()
    assert (listed["standing"], listed["resource"]) == ("unconfirmed", "pods/exec")
    assert "has not been heard from" in listed["why"]
