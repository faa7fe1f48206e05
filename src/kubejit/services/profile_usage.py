"""What a profile's grants did in a window, read from the audit chain: the broker's half of ``kubejit profiles
rightsize``.

The broker route ``GET /api/v1/profiles/{name}/usage`` (:mod:`kubejit.entrypoints.api.routes.profiles`) calls
:meth:`ProfileUsage.report`: the profile's effective rules (resolved as the broker resolves them, aggregated
ClusterRoles included), each of its grants active in the window with the cluster user kube-apiserver saw, and the
gateway's activity events for those grants as :class:`~kubejit.domain.rightsize.Use` values. Only people who may
read the whole audit trail (auditors and admins) may ask: the report is built from other people's activity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.audit import AuditEvent, AuditKind
from kubejit.domain.errors import NotFound, Refused, Unavailable
from kubejit.domain.policy import AccessPolicy, Identity, Profile, Scope
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rightsize import GrantWindow, Source, Use
from kubejit.domain.workflow import AccessRequest
from kubejit.ports import Clock, RoleRules, UnitOfWorkFactory

USED_KINDS = frozenset({AuditKind.ACTIVITY_REQUEST, AuditKind.ACTIVITY_EXEC, AuditKind.ACTIVITY_SESSION_CLOSED})
MAX_GRANTS = 10_000
MAX_EVENTS = 100_000  # one report reads at most this many events; more says so (narrow --since)
_NOT_AUTHORIZED = (401, 403)  # kube-apiserver refused the request itself: nothing was used


@dataclass(frozen=True)
class UsageReport:
    profile: Profile
    rules: tuple[PolicyRule, ...]
    since: datetime
    until: datetime
    grants: tuple[GrantWindow, ...]
    uses: tuple[tuple[str, Use], ...]  # (grant id, use), from the gateway's activity
    truncated: bool  # the window held more events than one report reads


@dataclass
class ProfileUsage:
    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    clock: Clock
    role_rules: RoleRules
    may_read_audit: Callable[[Identity], bool]  # AuditService.may_read_all: auditors and admins

    def report(self, who: Identity, profile_name: str, window: timedelta) -> UsageReport:
        """The profile's rules and its grants' gateway activity over the last ``window``; raises Refused for
        anyone who may not read the whole audit trail, NotFound for an unknown profile, Unavailable when the
        profile's rules cannot be resolved."""
        if not self.may_read_audit(who):
            raise Refused("only auditors and admins may read what a profile's grants did (the audit trail)")
        policy = self.policy()
        profile = policy.profile(profile_name)
        if profile is None:
            known = ", ".join(p.name for p in policy.profiles) or "none"
            raise NotFound(f"there is no access profile {profile_name!r}; profiles: {known}")
        rules = self.role_rules.rules_of(profile.role)
        if rules is None:
            raise Unavailable(f"the rules of profile {profile.name} ({profile.role.describe()}) cannot be read here")
        until = self.clock.now()
        since = until - window
        with self.uow(read_only=True) as uow:
            found = uow.requests.find(profiles=[profile.name], limit=MAX_GRANTS)
            grants = tuple(_windows(policy, profile, (s.request for s in found), since, until))
            events = _activity(uow.audit.query, [g.id for g in grants], since) if grants else []
        uses = tuple((e.request_id, use) for e in events if (use := used(e)) is not None)
        return UsageReport(profile, rules, since, until, grants, uses, len(events) >= MAX_EVENTS)


def _windows(
    policy: AccessPolicy, profile: Profile, requests: Iterable[AccessRequest], since: datetime, until: datetime
) -> Iterable[GrantWindow]:
    """The grants that were active at some moment of [since, until], newest first."""
    for request in requests:
        end = request.ended_at or request.ends_at
        if request.starts_at is None or end is None or end < since or request.starts_at > until:
            continue
        namespaces = () if profile.scope is Scope.CLUSTER else request.namespaces
        user = policy.identity.cluster_user(request.requester.user)
        yield GrantWindow(request.id, user, max(request.starts_at, since), min(end, until), namespaces)


def _activity(query: Callable[..., list[AuditEvent]], grant_ids: Sequence[str], since: datetime) -> list[AuditEvent]:
    events = query(request_ids=list(grant_ids), since=since, limit=MAX_EVENTS)
    return [e for e in events if e.kind in USED_KINDS]


def used(event: AuditEvent) -> Use | None:
    """The use an activity event records, or None when the request was refused upstream (401/403)."""
    data: dict[str, Any] = dict(event.data)
    status = data.get("status")
    if isinstance(status, int) and status in _NOT_AUTHORIZED:
        return None
    verb = str(data.get("verb") or "")
    if not verb:
        return None
    return Use(
        verb=verb,
        api_group=str(data.get("apiGroup") or ""),
        resource=str(data.get("resource") or ""),
        name=str(data.get("name") or ""),
        path=str(data.get("path") or ""),
        source=Source.GATEWAY,
    )
