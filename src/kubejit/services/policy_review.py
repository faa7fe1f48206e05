"""Use case: review a policy's profiles before use (``kubejit policy check|explain``, the broker at start).

For each profile: resolve its effective RBAC rules (inline, or read from the cluster), analyze them for
escalation risks, and apply ``allowRisks`` and the auto-approval rule. A profile whose rules cannot be
known here (a ClusterRole without a cluster to read it from) is reported as not analyzed, never as safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kubejit.domain.errors import Refused, Unavailable
from kubejit.domain.policy import (
    AccessPolicy,
    Profile,
    ProfileAssessment,
    RoleKind,
    RoleSource,
    Scope,
    assess_profile,
)
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import analyze
from kubejit.ports import RoleRules


@dataclass(frozen=True)
class ProfileReview:
    profile: Profile
    rules: tuple[PolicyRule, ...] | None  # None: not known here
    assessment: ProfileAssessment | None  # None when the rules are not known

    @property
    def analyzed(self) -> bool:
        return self.assessment is not None

    @property
    def refused(self) -> bool:
        return self.assessment is not None and self.assessment.refused


@dataclass(frozen=True)
class PolicyReview:
    policy: AccessPolicy
    profiles: tuple[ProfileReview, ...]

    @property
    def refused(self) -> tuple[ProfileReview, ...]:
        return tuple(p for p in self.profiles if p.refused)

    @property
    def not_analyzed(self) -> tuple[ProfileReview, ...]:
        return tuple(p for p in self.profiles if not p.analyzed)


class InlineRulesOnly:
    """RoleRules without a cluster: only rules written in the policy are known."""

    def rules_of(self, source: RoleSource) -> tuple[PolicyRule, ...] | None:
        return source.rules if source.kind is RoleKind.INLINE else None


def review_profile(profile: Profile, role_rules: RoleRules) -> ProfileReview:
    rules = role_rules.rules_of(profile.role)
    if rules is None:
        return ProfileReview(profile, None, None)
    findings = analyze(rules, cluster_wide=profile.scope is Scope.CLUSTER)
    return ProfileReview(profile, rules, assess_profile(profile, findings))


def review_policy(policy: AccessPolicy, role_rules: RoleRules) -> PolicyReview:
    return PolicyReview(policy, tuple(review_profile(p, role_rules) for p in policy.profiles))


class PolicyRefused(Refused):
    """The policy is valid but some profiles may not be used as written."""


def require_usable(review: PolicyReview) -> None:
    """Fail closed: a broker does not serve a policy with refused or unanalyzable profiles."""
    problems = [
        f"  {p.profile.name}: {refusal}"
        for p in review.refused
        for refusal in (p.assessment.refusals if p.assessment else ())
    ]
    problems += [f"  {p.profile.name}: its rules could not be read from the cluster" for p in review.not_analyzed]
    if problems:
        raise PolicyRefused(f"policy {review.policy.name!r} cannot be used:\n" + "\n".join(problems))


@dataclass
class PolicyHolder:
    """The policy in force: loaded and reviewed at start, swapped atomically on a successful reload."""

    load: Callable[[], AccessPolicy]
    role_rules: RoleRules
    _policy: AccessPolicy | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> AccessPolicy:
        policy = self._policy
        if policy is None:
            raise Unavailable("no policy is loaded")
        return policy

    def reload(self) -> AccessPolicy:
        """Load, validate and review the policy; on any problem the previous policy stays in force."""
        policy = self.load()
        require_usable(review_policy(policy, self.role_rules))
        with self._lock:
            self._policy = policy
        return policy
