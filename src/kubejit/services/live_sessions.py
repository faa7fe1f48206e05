"""The sessions open through the gateways (exec, attach, port-forward, watch), per grant, as a person may see them.

The console's live page (``entrypoints/console/_live_sessions``) and ``GET /api/v1/sessions`` (``kubejit
sessions``) call :meth:`LiveSessions.read`. The sessions are told from the audit trail (``domain/live_sessions``):
the trail is what every broker replica shares, what survives a broker's restart, and already holds each
session's start and end, so no gateway reports anything more and no broker keeps a second record that could
disagree with it.

Who sees what is not decided here: the grants are those the access service lists for the person
(``AccessService.list``) and their sessions are read through the audit service (``AuditService.query``), so a
session shows only to someone who may see both its grant and its grant's events: the requester, auditors and
admins. An approver who is neither sees the grant on the live page but not what is done with it, as in the audit
search.

Whether a session's gateway process is still alive is read from the store's activity marks (``store``): the
broker updates its mark whenever a process's batch arrives, and a live process sends one every few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubejit.domain.audit import AuditEvent
from kubejit.domain.live_sessions import SESSION_KINDS, LiveSession, standing, still_open
from kubejit.domain.policy import Identity
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import Clock, UnitOfWorkFactory
from kubejit.services.access import AccessService
from kubejit.services.audit import AuditService

RECENTLY_ENDED = timedelta(hours=1)  # an ended grant's unconfirmed sessions are listed this long after its end
PAGE = 1000
MAX_PAGES = 100  # of one grant's activity: beyond 100 000 requests the oldest sessions are read, not the newest


@dataclass(frozen=True)
class GrantSessions:
    grant: AccessRequest
    sessions: tuple[LiveSession, ...]


@dataclass
class LiveSessions:
    access: AccessService
    audit: AuditService
    clock: Clock
    store: UnitOfWorkFactory | None = None  # where the gateways' activity marks are read; None: not judged
    recently_ended: timedelta = RECENTLY_ENDED

    def read(self, who: Identity) -> list[GrantSessions]:
        """The grants with sessions ``who`` may see: the active ones, and those ended within ``recently_ended``
        whose sessions' ends were never recorded; sessions oldest first, grants by their oldest session."""
        now = self.clock.now()
        grants = self.access.list(who, states=[State.ACTIVE])
        grants += [
            r
            for r in self.access.list(who, states=[State.REVOKED, State.EXPIRED])
            if r.ended_at is not None and now - r.ended_at < self.recently_ended
        ]
        open_per_grant = [(g, starts) for g in grants if (starts := still_open(self._session_events(who, g)))]
        heard = self._heard({start.gateway for _, starts in open_per_grant for start in starts})
        found = [
            GrantSessions(grant, tuple(standing(starts, {grant.id: ended_at(grant, now)}, now, heard=heard)))
            for grant, starts in open_per_grant
        ]
        found.sort(key=lambda g: g.sessions[0].start.seq)
        return found

    def _heard(self, gateways: set[str]) -> Mapping[str, datetime]:
        """When the broker last heard from each of these gateway processes (those it knows of)."""
        if self.store is None or not gateways:
            return {}
        with self.store(read_only=True) as uow:
            return uow.idempotency.last_heard(sorted(gateways))

    def _session_events(self, who: Identity, grant: AccessRequest) -> list[AuditEvent]:
        events: list[AuditEvent] = []
        after = 0
        for _ in range(MAX_PAGES):
            page = self.audit.query(
                who, request_id=grant.id, since=grant.starts_at, kinds=SESSION_KINDS, after=after, limit=PAGE
            )
            events += page
            if len(page) < PAGE:
                break
            after = page[-1].seq
        return events


def ended_at(grant: AccessRequest, now: datetime) -> datetime | None:
    """When the grant stopped granting access (None while it does): its end, or its end time once passed (the
    keeper may not have expired it yet, but no gateway honours it)."""
    if grant.grants_access_at(now):
        return None
    return grant.ended_at or grant.ends_at or now
