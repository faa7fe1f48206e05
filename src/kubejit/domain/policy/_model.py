"""The policy model: the typed, immutable values the rest of kubejit obeys (:class:`AccessPolicy` and its
:class:`Profile` values, with their approval, reason, risk, break-glass and role settings).

Why it exists: it is what the policy-file loader (``adapters/policy_file``) builds and every service and
adapter reads; the subjects and identities it names are in ``_subjects``, its checks in ``_checks`` and
``_subject_checks``, and risk assessment in ``_risk``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from kubejit.domain.anomalies import AlertRule
from kubejit.domain.durations import format_duration
from kubejit.domain.policy._namespaces import _namespace_pattern
from kubejit.domain.policy._subjects import Identity, IdentityMapping, Subjects
from kubejit.domain.rbac import PolicyRule

if TYPE_CHECKING:
    from kubejit.domain.guardrails import Guardrail

POLICY_API_VERSION = "kubejit.io/v1alpha1"
POLICY_KIND = "AccessPolicy"


@dataclass(frozen=True)
class Defaults:
    default_duration: timedelta = timedelta(hours=1)
    max_duration: timedelta = timedelta(hours=4)
    pending_timeout: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Approval:
    approvers: Subjects = Subjects()
    required: int = 1
    allow_self_approval: bool = False
    auto_approve: Subjects = Subjects()
    auto_approve_max_duration: timedelta | None = None  # longer grants wait for approvers even for autoApprove

    def auto_approves(self, who: Identity, lasting: timedelta) -> bool:
        """Whether a grant to ``who`` that lasts ``lasting`` in all is approved without a reviewer."""
        return self.auto_approve.includes(who) and self.auto_approve_too_long(lasting) is None

    def auto_approve_too_long(self, lasting: timedelta) -> str | None:
        """Why a grant lasting ``lasting`` is too long to be auto-approved, or None."""
        cap = self.auto_approve_max_duration
        if cap is None or lasting <= cap:
            return None
        return (
            f"{format_duration(lasting)} is longer than autoApprove.maxDuration ({format_duration(cap)}), "
            "so it waits for approvers"
        )


@dataclass(frozen=True)
class ReasonRule:
    required: bool = True
    pattern: re.Pattern[str] | None = None

    def problem_with(self, reason: str) -> str | None:
        """Why ``reason`` is not acceptable, or None."""
        text = reason.strip()
        if not text:
            return "a reason is required: say what the access is for" if self.required else None
        if self.pattern is not None and not self.pattern.search(text):
            return f"the reason must match {self.pattern.pattern!r}"
        return None


@dataclass(frozen=True)
class AcceptedRisk:
    id: str
    justification: str


@dataclass(frozen=True)
class BreakGlass:
    """Who may activate the profile without approval, in an emergency; such grants are flagged and reviewed."""

    allowed: Subjects
    max_duration: timedelta | None = None


class RoleKind(StrEnum):
    CLUSTER_ROLE = "ClusterRole"
    ROLE = "Role"
    INLINE = "rules"


class Scope(StrEnum):
    NAMESPACED = "namespaced"  # RoleBindings in the requested namespaces
    CLUSTER = "cluster"  # one ClusterRoleBinding


@dataclass(frozen=True)
class RoleSource:
    """Where a profile's permissions come from: a ClusterRole, a Role, or rules written in the policy."""

    kind: RoleKind
    name: str = ""
    namespace: str = ""
    rules: tuple[PolicyRule, ...] = ()

    def describe(self) -> str:
        if self.kind is RoleKind.INLINE:
            return f"{len(self.rules)} inline rule(s)"
        if self.kind is RoleKind.ROLE:
            return f"Role {self.namespace}/{self.name}"
        return f"ClusterRole {self.name}"


@dataclass(frozen=True)
class Profile:
    """A named, pre-approved bundle of permissions that people request."""

    name: str
    role: RoleSource
    requesters: Subjects
    approval: Approval
    description: str = ""
    scope: Scope = Scope.NAMESPACED
    namespaces: tuple[str, ...] = ()
    default_duration: timedelta | None = None
    max_duration: timedelta | None = None
    max_extended_duration: timedelta | None = None  # a grant's whole life with extensions; default: maxDuration
    reason: ReasonRule = ReasonRule()
    allow_risks: tuple[AcceptedRisk, ...] = ()
    guardrails: tuple[str, ...] = ()
    break_glass: BreakGlass | None = None

    def allows_namespace(self, namespace: str) -> bool:
        return any(_namespace_pattern(p).fullmatch(namespace) for p in self.namespaces)

    def accepted_risk(self, risk_id: str) -> AcceptedRisk | None:
        return next((r for r in self.allow_risks if r.id == risk_id), None)


@dataclass(frozen=True)
class AccessPolicy:
    name: str
    profiles: tuple[Profile, ...]
    guardrails: Mapping[str, Guardrail] = field(default_factory=dict)
    identity: IdentityMapping = IdentityMapping()
    admins: Subjects = Subjects()
    auditors: Subjects = Subjects()
    defaults: Defaults = Defaults()
    alerts: tuple[AlertRule, ...] = ()  # spec.alerts: evaluated on the live activity (services/anomaly_watch)

    def profile(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def max_duration_of(self, profile: Profile) -> timedelta:
        return profile.max_duration or self.defaults.max_duration

    def default_duration_of(self, profile: Profile) -> timedelta:
        default = profile.default_duration or self.defaults.default_duration
        return min(default, self.max_duration_of(profile))

    def max_extended_duration_of(self, profile: Profile) -> timedelta:
        return profile.max_extended_duration or self.max_duration_of(profile)

    def guardrails_of(self, profile: Profile) -> tuple[Guardrail, ...]:
        return tuple(self.guardrails[name] for name in profile.guardrails)
