"""An attach through the gateway is recorded when it starts (as an exec is), so a ``privileged-exec`` alert fires
while the session is still open; its end record says ``phase: end`` and is not counted again. The gateway runs
in-process in front of a stand-in kube-apiserver that switches protocols and holds the stream open."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

from kubejit.adapters.kube.upstream import Upstream, UpstreamConnection
from kubejit.adapters.policy_file import load_policy
from kubejit.domain.anomalies import Activity, Detector, GrantFacts, RuleKind, activity_of, rule_with_defaults
from kubejit.domain.audit import AuditEvent
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.policy import Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.entrypoints.gateway.proxy import Gateway
from kubejit.services.gateway_access import GatewayAccess
from kubejit.services.gateway_authentication import Identity
from kubejit.services.gateway_sessions import Sessions

POLICY = load_policy("""\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: unit}
spec:
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: ops
      rules:
        - {apiGroups: [""], resources: [pods/attach, pods/exec, pods/portforward], verbs: [get, create]}
        - {apiGroups: [""], resources: [pods], verbs: [watch]}
      namespaces: ["kube-system"]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
      allowRisks:
        - {id: pods-attach, justification: unit}
        - {id: pods-exec, justification: unit}
        - {id: pods-portforward, justification: unit}
""")
NOW = datetime.now(UTC)
GRANT = GrantFacts("g1", "alice", "ops", ("kube-system",), starts_at=NOW)


class PlainUpstream(Upstream):
    """The stand-in kube-apiserver speaks plain HTTP on loopback."""

    async def connect(self) -> UpstreamConnection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return UpstreamConnection(reader, writer)


async def _switch_and_hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n")
    await writer.drain()
    await reader.read()  # until the gateway closes its side
    writer.close()


def _gateway(upstream_port: int, emitted: list[dict[str, Any]]) -> Gateway:
    def authenticate(token: str, _moment: datetime) -> Identity:
        if token != "alices-token":
            raise Unauthenticated("unknown token")
        return Identity("alice", frozenset({"devs"}), "g1")

    def rules(profile: Profile) -> tuple[PolicyRule, ...]:
        return profile.role.rules

    book = GrantBook(timedelta(seconds=30))
    book.replace(
        [ActiveGrant("g1", "alice", frozenset({"devs"}), "ops", ("kube-system",), NOW + timedelta(hours=1))], NOW
    )
    return Gateway(
        access=GatewayAccess(lambda: POLICY, rules, book),
        authenticate=authenticate,
        upstream=PlainUpstream("127.0.0.1", upstream_port, ssl.create_default_context()),
        emit=emitted.append,
        sessions=Sessions(),
        now=lambda: datetime.now(UTC),
    )


async def _attach(subresource: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(what was recorded while the session was open, what was recorded by its end)."""
    emitted: list[dict[str, Any]] = []
    apiserver = await asyncio.start_server(_switch_and_hold, "127.0.0.1", 0)
    gateway = _gateway(apiserver.sockets[0].getsockname()[1], emitted)
    front = await asyncio.start_server(gateway.serve_connection, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", front.sockets[0].getsockname()[1])
        query = "command=sh&stdin=true" if subresource == "exec" else "stdin=true&stdout=true"
        writer.write(
            f"GET /api/v1/namespaces/kube-system/pods/app/{subresource}?{query} HTTP/1.1\r\nHost: gw\r\n"
            "Authorization: Bearer alices-token\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert head.startswith(b"HTTP/1.1 101 "), head
        await asyncio.sleep(0.05)
        during = list(emitted)
        writer.close()
        for _ in range(200):
            if len(emitted) > len(during):
                break
            await asyncio.sleep(0.01)
    finally:
        front.close()
        apiserver.close()
    return during, emitted


def _activities(records: list[dict[str, Any]]) -> list[Activity]:
    found = []
    for seq, record in enumerate(records, start=1):
        data = {k: v for k, v in record.items() if k not in ("kind", "user", "grant")}
        event = AuditEvent(seq, datetime.now(UTC), str(record["kind"]), record["user"], record["grant"], data)
        activity = activity_of(event)
        assert activity is not None
        found.append(activity)
    return found


def test_an_attach_is_recorded_at_its_start_and_alerts_then() -> None:
    during, emitted = asyncio.run(_attach("attach"))
    assert [(r["kind"], r["resource"], r.get("phase"), r.get("status")) for r in during] == [
        ("activity.request", "pods/attach", "start", 101)
    ]
    assert [r.get("phase") for r in emitted] == ["start", "end"]
    assert emitted[1]["closed"]
    rule = rule_with_defaults(None, RuleKind.PRIVILEGED_EXEC)  # kube-system by default
    detector = Detector(started=NOW)
    start, end = _activities(emitted)
    assert len(detector.observe([rule], start, GRANT)) == 1  # at the start, the session still open
    assert detector.observe([rule], end, GRANT) == []  # and not again at its end


def test_an_exec_is_recorded_at_its_start_with_its_command() -> None:
    during, emitted = asyncio.run(_attach("exec"))
    assert [(r["kind"], r["command"], r.get("phase")) for r in during] == [("activity.exec", ["sh"], "start")]
    assert [(r["kind"], r.get("phase")) for r in emitted] == [
        ("activity.exec", "start"),
        ("activity.session-closed", "end"),
    ]


def test_an_older_gateways_attach_counts_at_its_end() -> None:
    """A gateway without start records recorded an attach only as it closed (no phase): still counted."""
    rule = rule_with_defaults(None, RuleKind.PRIVILEGED_EXEC)
    old = Activity(
        seq=1, at=NOW, kind="activity.request", grant="g1", user="alice", verb="get", resource="pods/attach",
        namespace="kube-system", name="app", status=101,
    )  # fmt: skip
    assert len(Detector(started=NOW).observe([rule], old, GRANT)) == 1
