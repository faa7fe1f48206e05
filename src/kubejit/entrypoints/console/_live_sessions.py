"""The live page's list of open gateway sessions (exec, attach, port-forward, watch) and its updates on the
page's event stream.

``_live`` renders :func:`session_rows` into ``live.html`` and, in its stream, asks a :class:`SessionsFeed` after
each read whether the list changed: the list is read again (``services/live_sessions``, with the visitor's
identity: who sees which session is the services' rule) when a read brought a session's start or end or a
grant's end, and every few seconds anyway (a session's standing moves with time: *closing*, then *unconfirmed*).
A changed list goes out as one ``event: sessions`` message whose data is the whole list as JSON; ``console.js``
puts it into the table with ``textContent`` and, for those who may revoke the grant, a revoke form per row (the
page's CSRF token, the request page's revoke route), so a command line is never markup.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread

from kubejit.domain.workflow import may_revoke
from kubejit.entrypoints.console._web import SignedIn
from kubejit.services.live_sessions import LiveSessions

RERATE_SECONDS = 10.0


@dataclass(frozen=True)
class SessionRow:
    grant: str
    user: str
    profile: str
    kind: str
    namespace: str
    pod: str
    where: str  # namespace/pod; for a watch namespace/resource[/name]
    command: str  # the exec's command line as a shell would read it; "" for an attach
    since: datetime
    gateway: str
    standing: str
    why: str
    may_revoke: bool  # the workflow's rule (requester, the profile's approvers, admins): else no button

    def to_json(self) -> dict[str, Any]:
        return {
            "grant": self.grant,
            "user": self.user,
            "profile": self.profile,
            "kind": self.kind,
            "namespace": self.namespace,
            "pod": self.pod,
            "where": self.where,
            "command": self.command,
            "since": self.since.strftime("%Y-%m-%d %H:%M:%S"),
            "gateway": self.gateway,
            "standing": self.standing,
            "why": self.why,
            "mayRevoke": self.may_revoke,
        }


def session_rows(visitor: SignedIn) -> list[SessionRow]:
    broker = visitor.broker
    found = LiveSessions(broker.access, broker.audit, broker.clock, broker.store).read(visitor.who)
    policy = broker.access.policy()
    return [
        SessionRow(
            grant=group.grant.id,
            user=s.start.user,
            profile=group.grant.profile,
            kind=s.start.kind,
            namespace=s.start.namespace,
            pod=s.start.pod,
            where=s.start.where,
            command=shlex.join(s.start.command),
            since=s.start.at,
            gateway=s.start.gateway,
            standing=str(s.standing),
            why=s.why,
            may_revoke=may_revoke(policy, group.grant, visitor.who),
        )
        for group in found
        for s in group.sessions
    ]


class SessionsFeed:
    """One stream's view of the sessions list: what it last sent, and when it last read it."""

    def __init__(self, visitor: SignedIn) -> None:
        self._visitor = visitor
        self._sent: str | None = None
        self._read_at = 0.0

    async def update(self, moved: bool) -> bytes:
        """The ``sessions`` message when the list changed since the last one sent (always at the first call);
        empty otherwise. Reads the list again only when ``moved`` or every RERATE_SECONDS."""
        if self._sent is not None and not moved and time.monotonic() - self._read_at < RERATE_SECONDS:
            return b""
        self._read_at = time.monotonic()
        rows = await anyio.to_thread.run_sync(session_rows, self._visitor)
        data = json.dumps([row.to_json() for row in rows])
        if data == self._sent:
            return b""
        self._sent = data
        return f"event: sessions\ndata: {data}\n\n".encode()
