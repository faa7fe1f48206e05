"""Whether a stored request may be honoured as access: the one check the keeper and the gateway feed share.

A row becomes access only if the broker wrote it (its seal verifies: :class:`kubejit.ports.Seal`, written by the
store with a key the database does not hold) and the current policy supports it
(:func:`kubejit.domain.grant_validity.grant_problems`). Callers: :mod:`kubejit.services.reconciler` (activation,
and the pass that takes access away from active rows that fail) and :mod:`kubejit.services.gateway_feed` (the
grants gateways honour, and grant tokens). Refusals are logged here, once per row version, so that a refused
row does not flood the log every pass; the callers audit them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import islice

from kubejit.domain.audit import AuditKind
from kubejit.domain.grant_validity import grant_problems
from kubejit.domain.policy import AccessPolicy
from kubejit.ports import Seal, Stored, UnitOfWork
from kubejit.services._streams import close_stream

log = logging.getLogger("kubejit.grant_trust")

_SEAL_PROBLEMS = {
    Seal.MISSING: "its row carries no seal by the broker's key: it was not written by this broker",
    Seal.BROKEN: "its row's seal does not verify: the row was changed behind the broker's back",
}


def trust_problems(policy: AccessPolicy, stored: Stored) -> list[str]:
    """Why ``stored`` must not become access; empty when it may."""
    seal = _SEAL_PROBLEMS.get(stored.seal)
    if seal is not None:
        return [seal]  # the rest of an unsealed row is what someone else wrote: no point judging it
    return grant_problems(policy, stored.request)


@dataclass
class RefusalLog:
    """Remembers which row versions were refused, so each refusal is reported (logged, and audited by the
    caller) once."""

    where: str
    _seen: dict[str, int] = field(default_factory=dict)

    def already(self, stored: Stored) -> bool:
        """Whether this version of the row was refused before (a row refused for its seal or the chain stays
        refused until it changes)."""
        return self._seen.get(stored.request.id) == stored.version

    def first(self, stored: Stored, problems: list[str]) -> bool:
        """Record a refusal; True the first time this version of the row is refused (then log, audit it)."""
        request_id = stored.request.id
        if self._seen.get(request_id) == stored.version:
            return False
        self._seen[request_id] = stored.version
        log.error("%s refuses request %s (version %d): %s", self.where, request_id, stored.version, "; ".join(problems))
        return True


# The events after which a request never grants anything again, whatever its row says.
ENDING_KINDS = frozenset(
    {
        AuditKind.GRANT_REVOKED,
        AuditKind.GRANT_EXPIRED,
        AuditKind.REQUEST_CANCELLED,
        AuditKind.REQUEST_DENIED,
        AuditKind.REQUEST_TIMED_OUT,
    }
)
ENDED_BY_CHAIN = "the audit chain says it ended, but its row is active: an older copy of the row was put back"
CATCH_UP_EVENTS = 5000  # events read per call from before the first call, so no pass stalls on a long chain


@dataclass
class ChainEndings:
    """Which requests the audit chain says have ended: every call reads the events appended since the last one,
    and a chunk of the events from before the first call, until the whole chain is read."""

    catch_up: int = CATCH_UP_EVENTS  # events from before the first call read per call
    _ended: set[str] = field(default_factory=set)
    _live: int | None = None  # the last event read from the chain's tail
    _old: int = 0  # the last event read of those from before the first call
    _old_until: int = 0  # the chain's head at the first call

    def ended(self, uow: UnitOfWork) -> set[str]:
        if self._live is None:
            head = uow.audit.head()
            self._live = self._old_until = head.seq if head is not None else 0
        self._live = self._read(uow, self._live, None)
        if self._old < self._old_until:
            self._old = min(self._read(uow, self._old, self.catch_up), self._old_until)
        return self._ended

    def _read(self, uow: UnitOfWork, after: int, most: int | None) -> int:
        stream = uow.audit.events(after_seq=after)
        try:
            for event in islice(stream, most):
                if event.kind in ENDING_KINDS and event.request_id:
                    self._ended.add(event.request_id)
                after = event.seq
        finally:
            close_stream(stream)
        return after
