"""What the broker gives the gateways: grant tokens for people, the active grants, and a home for activity.

People exchange their ID token for a short-lived grant token (``kubejit token``); gateways read the set of
active grants (to refuse a revoked grant's tokens within a second) and send back what was done with each grant,
which joins the audit chain like every other event.

Only rows the broker wrote and the current policy supports are grants here
(:func:`kubejit.services.grant_trust.trust_problems`): a row inserted or changed behind the broker's back is
neither listed for the gateways nor given tokens, and the refusal is audited, logged and counted once per version.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.audit import AuditEntry, AuditEvent, AuditKind
from kubejit.domain.errors import InvalidInput, NotFound, Refused, Unauthenticated
from kubejit.domain.grant_token import DEFAULT_TTL, claims_for
from kubejit.domain.policy import AccessPolicy, Identity
from kubejit.domain.workflow import State
from kubejit.ports import Clock, Stored, TokenSigner, UnitOfWorkFactory
from kubejit.services.grant_trust import RefusalLog, trust_problems

ACTIVITY_KINDS = frozenset(kind for kind in AuditKind if kind.is_activity)  # what a gateway may send
MAX_ACTIVITY_BATCH = 1000
_INSTANCE = re.compile(r"[A-Za-z0-9._:/-]{1,255}")


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
    # Called with each batch's newly recorded events after its commit (services/anomaly_watch): must not raise.
    on_activity: Callable[[Sequence[AuditEvent]], object] = lambda _events: None
    refusals: RefusalLog = field(default_factory=lambda: RefusalLog("the gateway feed"))

    def _trusted(self, policy: AccessPolicy, stored: Stored) -> bool:
        """True when the row may be honoured; otherwise the refusal is reported (once per version)."""
        problems = trust_problems(policy, stored)
        if problems and self.refusals.first(stored, problems):
            with self.uow() as uow:
                uow.audit.append(
                    kind=AuditKind.OPERATION_REFUSED,
                    actor="kubejit",
                    at=self.clock.now(),
                    request_id=stored.request.id,
                    data={"operation": "gateway.grant", "refused": problems, "version": stored.version},
                )
                uow.commit()
            self.on_audit()
        return not problems

    def issue_token(self, who: Identity, request_id: str) -> IssuedToken:
        """A grant token for the grant's own requester (nobody else may use a grant)."""
        with self.uow(read_only=True) as uow:
            stored = uow.requests.get(request_id)
        request = stored.request
        if request.requester.user != who.user:
            raise NotFound(f"there is no grant {request_id} of yours")
        now = self.clock.now()
        claims = claims_for(request, now, self.ttl)  # raises Conflict unless the grant is active and in time
        if not self._trusted(self.policy(), stored):
            raise Refused(
                f"{request_id} is not a grant this broker honours: ask an admin to run `kubejit audit verify`"
            )
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
                active = uow.requests.find(states=[State.ACTIVE], limit=100_000)
                after = uow.audit.head()
            if before == after:
                break
        revision = after.seq if after is not None else 0
        policy = self.policy()
        honoured = [s.request for s in active if self._trusted(policy, s)]
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
            for r in honoured
            if r.ends_at is not None and r.ends_at > now
        ]
        return {"revision": revision, "grants": grants}

    def record_activity(self, gateway: str, events: Sequence[dict[str, Any]], instance: str | None = None) -> int:
        """Append what a gateway saw to the audit chain (one transaction per batch); returns how many were new.

        A gateway process (``instance``) numbers its events (``gatewaySeq``, increasing, sent in order); events
        at or below the highest number already recorded from it are skipped, so a batch sent again after its
        answer was lost is not recorded twice. Every batch from a named process, an empty one too (an idle
        gateway's heartbeat), moves when the broker last heard from it (``services/live_sessions`` reads that)."""
        if len(events) > MAX_ACTIVITY_BATCH:
            raise InvalidInput(f"send at most {MAX_ACTIVITY_BATCH} activity events per batch")
        if instance is not None and not _INSTANCE.fullmatch(instance):
            raise InvalidInput("the gateway instance must be 1-255 letters, digits and . _ : / -")
        entries: list[tuple[int | None, AuditEntry]] = []
        for number, event in enumerate(events):
            kind = str(event.get("kind", ""))
            if kind not in ACTIVITY_KINDS:
                raise InvalidInput(f"event {number}: unknown activity kind {kind!r}")
            user, grant = str(event.get("user", "")), str(event.get("grant", ""))
            if not user:
                raise InvalidInput(f"event {number}: an activity event needs its user")
            seq = event.get("gatewaySeq")
            if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 1):
                raise InvalidInput(f"event {number}: gatewaySeq must be a positive integer")
            data = {k: v for k, v in event.items() if k not in ("kind", "user", "grant")}
            if instance is not None:
                data["gatewayInstance"] = instance
            entries.append(
                (seq, AuditEntry(kind=kind, actor=user, request_id=grant, data={**data, "gateway": gateway}))
            )
        now = self.clock.now()
        with self.uow() as uow:
            mark = uow.idempotency.activity_mark(instance) if instance is not None else 0
            fresh = [entry for seq, entry in entries if seq is None or seq > mark]
            recorded = uow.audit.append_many(fresh, at=now) if fresh else []
            if instance is not None:  # every batch, empty ones too: when the process was last heard from
                numbered = [seq for seq, _ in entries if seq is not None]
                uow.idempotency.set_activity_mark(instance, max([mark, *numbered]), now)
            uow.commit()
        if recorded:
            self.on_audit()
            self.on_activity(recorded)
        return len(fresh)


def require_gateway(presented: str | None, expected_sha256: str | None) -> str:
    """Gateways authenticate to the broker with a shared secret (compared by hash, in constant time)."""
    if expected_sha256 is None:
        raise NotFound("no gateway is configured on this broker")
    digest = hashlib.sha256((presented or "").encode()).hexdigest()
    if not presented or not hmac.compare_digest(digest, expected_sha256):
        raise Unauthenticated("this endpoint is for kubejit gateways: present the gateway's client token")
    return "gateway"
