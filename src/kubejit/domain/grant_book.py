"""The gateway's book of active grants: what the broker last said is active, and how fresh that news is.

The gateway holds no database. The broker's grant stream (``kubejit.adapters.broker_link``) installs snapshots and
heartbeats here; the access check (``kubejit.services.gateway_access``) and the cut-off loop read it, and refuse
when it is stale (fail closed). The snapshot digest lets a gateway notice within a heartbeat that its book differs
from the broker's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class ActiveGrant:
    """A grant as the broker's stream describes it."""

    id: str
    user: str
    groups: frozenset[str]
    profile: str
    namespaces: tuple[str, ...]
    ends_at: datetime

    @classmethod
    def from_wire(cls, item: Mapping[str, Any]) -> ActiveGrant:
        return cls(
            id=str(item["id"]),
            user=str(item["user"]),
            groups=frozenset(str(g) for g in item.get("groups", [])),
            profile=str(item["profile"]),
            namespaces=tuple(str(n) for n in item.get("namespaces", [])),
            ends_at=datetime.fromisoformat(str(item["endsAt"])),
        )


def not_active(grant_id: str, why: str = "ended or revoked") -> str:
    """What a person is told when the grant their token names is no longer active."""
    return f"grant {grant_id} is not active ({why}): request access again"


def snapshot_digest(grants: Sequence[Mapping[str, Any]]) -> str:
    """A short fingerprint of a snapshot of the active grants, the same at the broker and at every gateway.

    The broker puts it in every heartbeat so that a gateway whose book differs from the broker's (a snapshot
    read on demand arrived after a newer one, or the stream never showed a grant that was granted and revoked
    between two of its polls) notices within a heartbeat and reads the grants again."""
    canonical = json.dumps(list(grants), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass
class GrantBook:
    """The active grants, as last heard from the broker, and how fresh that news is."""

    max_staleness: timedelta
    grants: dict[str, ActiveGrant] = field(default_factory=dict)
    heard_at: datetime | None = None
    digest: str = ""  # snapshot_digest of the snapshot installed last
    revision: int = 0  # the broker's audit revision that snapshot is known to be current at

    def replace(self, grants: list[ActiveGrant], now: datetime, digest: str = "", revision: int = 0) -> set[str] | None:
        """Install a snapshot; return the ids that are no longer active (their sessions must close), or None
        when the snapshot is older than the one held (a read that took longer than a newer stream event)."""
        if revision < self.revision:
            return None
        gone = set(self.grants) - {g.id for g in grants}
        self.grants = {g.id: g for g in grants}
        self.heard_at = now
        self.digest = digest
        self.revision = revision
        return gone

    def heartbeat(self, now: datetime, digest: str | None = None, revision: int | None = None) -> bool:
        """The broker is alive and says its snapshot has ``digest`` at ``revision``. Returns whether the book
        holds that snapshot; if not, the book is not made fresher: it must be read again (or go stale)."""
        if digest is not None and digest != self.digest:
            return False
        self.heard_at = now
        if revision is not None:
            self.revision = max(self.revision, revision)
        return True

    def fresh(self, now: datetime) -> bool:
        return self.heard_at is not None and now - self.heard_at <= self.max_staleness

    def of_user(self, user: str) -> list[ActiveGrant]:
        return [g for g in self.grants.values() if g.user == user]
