"""What the broker gives the gateways: grant tokens for people, the active grants, and a home for activity.

People exchange their ID token for a short-lived grant token (``kubejit token``); gateways read the set of
active grants (to refuse a revoked grant's tokens within a second) and send back what was done with each grant,
which joins the audit chain like every other event.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.audit import AuditEntry
from kubejit.domain.errors import InvalidInput, NotFound, Unauthenticated
from kubejit.domain.grant_token import DEFAULT_TTL, claims_for
from kubejit.domain.policy import AccessPolicy, Identity
from kubejit.domain.workflow import State
from kubejit.ports import Clock, TokenSigner, UnitOfWorkFactory

ACTIVITY_KINDS = frozenset({"activity.request", "activity.exec", "activity.session-closed", "activity.refused"})
MAX_ACTIVITY_BATCH = 1000


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    grant_id: str


@dataclass
class GatewayFeed:
    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    clock: Clock
    signer: TokenSigner
    ttl: timedelta = DEFAULT_TTL
    public_keys: dict[str, Any] = field(default_factory=dict)  # the JWKS gateways verify grant tokens with
    on_audit: Callable[[], None] = lambda: None

    def issue_token(self, who: Identity, request_id: str) -> IssuedToken:
        """A grant token for the grant's own requester (nobody else may use a grant)."""
        with self.uow(read_only=True) as uow:
            request = uow.requests.get(request_id).request
        if request.requester.user != who.user:
            raise NotFound(f"there is no grant {request_id} of yours")
        now = self.clock.now()
        claims = claims_for(request, now, self.ttl)
        return IssuedToken(self.signer.sign(claims), datetime.fromtimestamp(claims["exp"], tz=now.tzinfo), request.id)

    def active_grants(self) -> dict[str, Any]:
        """The grants gateways may honour right now, and the revision of the trail they were read at.

        Every change of a grant's state appends to the audit trail in the same transaction, so the trail's head
        orders snapshots: a gateway installs a snapshot only if its revision is not older than the one it holds
        (an on-demand read may arrive after a newer stream event). The head is read before and after the grants,
        and the read is repeated until both agree, so the revision describes exactly what was read."""
        now = self.clock.now()
        for _ in range(10):
            with self.uow(read_only=True) as uow:
                before = uow.audit.head()
                active = [s.request for s in uow.requests.find(states=[State.ACTIVE], limit=100_000)]
                after = uow.audit.head()
            if before == after:
                break
        revision = after.seq if after is not None else 0
        policy = self.policy()
        grants = [
            {
                "id": r.id,
                "user": r.requester.user,
                "groups": sorted(r.requester.groups),
                "profile": r.profile,
                "namespaces": list(r.namespaces),
                "endsAt": r.ends_at.isoformat() if r.ends_at else None,
                "guardrails": list(p.guardrails) if (p := policy.profile(r.profile)) else [],
            }
            for r in active
            if r.ends_at is not None and r.ends_at > now
        ]
        return {"revision": revision, "grants": grants}

    def record_activity(self, gateway: str, events: Sequence[dict[str, Any]]) -> int:
        """Append what a gateway saw to the audit chain (one transaction per batch)."""
        if len(events) > MAX_ACTIVITY_BATCH:
            raise InvalidInput(f"send at most {MAX_ACTIVITY_BATCH} activity events per batch")
        entries: list[AuditEntry] = []
        for number, event in enumerate(events):
            kind = str(event.get("kind", ""))
            if kind not in ACTIVITY_KINDS:
                raise InvalidInput(f"event {number}: unknown activity kind {kind!r}")
            user, grant = str(event.get("user", "")), str(event.get("grant", ""))
            if not user:
                raise InvalidInput(f"event {number}: an activity event needs its user")
            data = {k: v for k, v in event.items() if k not in ("kind", "user", "grant")}
            entries.append(AuditEntry(kind=kind, actor=user, request_id=grant, data={**data, "gateway": gateway}))
        now = self.clock.now()
        with self.uow() as uow:
            uow.audit.append_many(entries, at=now)
            uow.commit()
        self.on_audit()
        return len(events)


def require_gateway(presented: str | None, expected_sha256: str | None) -> str:
    """Gateways authenticate to the broker with a shared secret (compared by hash, in constant time)."""
    if expected_sha256 is None:
        raise NotFound("no gateway is configured on this broker")
    digest = hashlib.sha256((presented or "").encode()).hexdigest()
    if not presented or not hmac.compare_digest(digest, expected_sha256):
        raise Unauthenticated("this endpoint is for kubejit gateways: present the gateway's client token")
    return "gateway"
