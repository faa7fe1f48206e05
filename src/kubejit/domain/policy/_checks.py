"""The checks that span fields of a structurally valid policy: durations against their caps, scope and
namespaces, who can approve, references to guardrails and risk ids, who can request, identity prefixes and the
alert rules; all found at once, each at its field path.

Why it exists: the policy-file loader (``adapters/policy_file``) calls :func:`semantic_issues` after it has
built the model, and turns each :class:`~kubejit.domain.policy.Issue` into a file position; ``domain/rightsize``
checks a suggested profile with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from kubejit.domain.anomalies import alert_rule_issues
from kubejit.domain.durations import format_duration
from kubejit.domain.identity_names import identity_prefix_problem, quoted
from kubejit.domain.policy._issues import Issue
from kubejit.domain.policy._model import AccessPolicy, Profile, RoleKind, Scope
from kubejit.domain.policy._namespaces import NAMESPACE_PATTERN
from kubejit.domain.policy._subjects import IdentityMapping
from kubejit.domain.rbac_risk import RiskId


def semantic_issues(policy: AccessPolicy) -> list[Issue]:
    """Everything wrong with a structurally valid policy, all at once."""
    issues: list[Issue] = []
    cap = policy.defaults.max_duration
    if policy.defaults.default_duration > cap:
        issues.append(
            Issue(
                "spec.defaults.defaultDuration",
                f"defaultDuration is longer than maxDuration ({_fmt(cap)}): shorten it or raise maxDuration",
            )
        )
    issues.extend(_prefix_issues(policy.identity))
    seen: dict[str, int] = {}
    for index, profile in enumerate(policy.profiles):
        at = f"spec.profiles[{index}]"
        if profile.name in seen:
            issues.append(
                Issue(
                    f"{at}.name",
                    f"profile name {profile.name!r} is already used by spec.profiles[{seen[profile.name]}]: "
                    "profile names must be unique",
                )
            )
        seen.setdefault(profile.name, index)
        issues.extend(_profile_issues(policy, profile, at))
    issues.extend(Issue(at, text) for at, text in alert_rule_issues(policy.alerts, (p.name for p in policy.profiles)))
    return issues


def _prefix_issues(mapping: IdentityMapping) -> Iterable[Issue]:
    for field_name, prefix in (("usernamePrefix", mapping.username_prefix), ("groupsPrefix", mapping.groups_prefix)):
        problem = identity_prefix_problem(prefix)
        if problem is not None:
            yield Issue(
                f"spec.identity.{field_name}",
                f"{quoted(prefix)} {problem}: use the prefix kube-apiserver's OIDC settings use, such as 'oidc:'",
            )


def _profile_issues(policy: AccessPolicy, profile: Profile, at: str) -> Iterable[Issue]:
    """Every problem of one profile, in the order a reader meets its fields."""
    max_duration = policy.max_duration_of(profile)
    yield from _duration_issues(policy, profile, at, max_duration)
    yield from _scope_issues(profile, at)
    yield from _approval_issues(profile, at)
    yield from _reference_issues(policy, profile, at)
    yield from _requester_issues(profile, at, max_duration)


def _duration_issues(policy: AccessPolicy, profile: Profile, at: str, max_duration: timedelta) -> Iterable[Issue]:
    cap = policy.defaults.max_duration
    if profile.max_duration is not None and profile.max_duration > cap:
        yield Issue(
            f"{at}.maxDuration",
            f"maxDuration {_fmt(profile.max_duration)} is above the policy's cap spec.defaults.maxDuration "
            f"({_fmt(cap)}): lower it or raise the cap",
        )
    if profile.default_duration is not None and profile.default_duration > max_duration:
        yield Issue(
            f"{at}.defaultDuration",
            f"defaultDuration {_fmt(profile.default_duration)} is longer than this profile's maxDuration "
            f"({_fmt(max_duration)}): shorten it",
        )
    extended = profile.max_extended_duration
    if extended is not None and extended < max_duration:
        yield Issue(
            f"{at}.maxExtendedDuration",
            f"maxExtendedDuration {_fmt(extended)} is shorter than maxDuration ({_fmt(max_duration)}): "
            "it caps a grant's whole life including extensions, so raise it or remove it",
        )


def _scope_issues(profile: Profile, at: str) -> Iterable[Issue]:
    if profile.scope is Scope.NAMESPACED and not profile.namespaces:
        yield Issue(
            f"{at}.namespaces",
            "a namespaced profile needs at least one namespace (a name or a pattern such as payments-*); "
            "for cluster-wide access set scope: cluster",
        )
    if profile.scope is Scope.CLUSTER and profile.namespaces:
        yield Issue(f"{at}.namespaces", "a cluster-scoped profile grants all namespaces: remove namespaces")
    if profile.scope is Scope.CLUSTER and profile.role.kind is RoleKind.ROLE:
        yield Issue(
            f"{at}.role", "a Role can only be bound in its namespace: use clusterRole or rules for scope: cluster"
        )
    for n, pattern in enumerate(profile.namespaces):
        if not NAMESPACE_PATTERN.fullmatch(pattern) or len(pattern) > 63:
            yield Issue(
                f"{at}.namespaces[{n}]",
                f"{pattern!r} is not a namespace name or pattern: use lower-case letters, digits, '-' and '*'",
            )
    if profile.role.kind is RoleKind.ROLE and profile.namespaces:
        others = [p for p in profile.namespaces if p != profile.role.namespace]
        if others:
            yield Issue(
                f"{at}.role.namespace",
                f"Role {profile.role.namespace}/{profile.role.name} can only be bound in namespace "
                f"{profile.role.namespace!r}, but the profile also lists {', '.join(others)}: use a ClusterRole",
            )


def _approval_issues(profile: Profile, at: str) -> Iterable[Issue]:
    if profile.approval.approvers.empty and profile.approval.auto_approve.empty:
        yield Issue(
            f"{at}.approval",
            "nobody can approve this profile: name approvers (groups or users) or autoApprove subjects",
        )
    if profile.approval.auto_approve_max_duration is not None and profile.approval.auto_approve.empty:
        yield Issue(
            f"{at}.approval.autoApprove.maxDuration",
            "maxDuration limits auto-approval, but autoApprove names nobody: name users, groups or claims, "
            "or remove it",
        )
    approvers = profile.approval.approvers
    if not approvers.empty and not approvers.groups and len(approvers.users) < profile.approval.required:
        yield Issue(
            f"{at}.approval.required",
            f"{profile.approval.required} distinct approvers are required but only {len(approvers.users)} "
            "approver user(s) are named and no groups: lower required or add approvers",
        )


def _reference_issues(policy: AccessPolicy, profile: Profile, at: str) -> Iterable[Issue]:
    """Names the profile uses that must exist: guardrails and accepted risk ids."""
    for g, name in enumerate(profile.guardrails):
        if name not in policy.guardrails:
            known = ", ".join(sorted(policy.guardrails)) or "none are defined"
            yield Issue(
                f"{at}.guardrails[{g}]",
                f"guardrail {name!r} is not defined in spec.guardrails (defined: {known})",
            )
    for r, risk in enumerate(profile.allow_risks):
        if RiskId.parse(risk.id) is None:
            yield Issue(
                f"{at}.allowRisks[{r}].id",
                f"{risk.id!r} is not a risk id; known ids: {', '.join(sorted(RiskId))}",
            )
        if not risk.justification.strip():
            yield Issue(f"{at}.allowRisks[{r}].justification", "say why this risk is accepted")


def _requester_issues(profile: Profile, at: str, max_duration: timedelta) -> Iterable[Issue]:
    if profile.requesters.empty and profile.break_glass is None:
        yield Issue(f"{at}.requesters", "nobody may request this profile: name requester groups or users")
    if profile.break_glass is not None:
        if profile.break_glass.allowed.empty:
            yield Issue(f"{at}.breakGlass.allowed", "name who may break the glass (groups or users)")
        bg_max = profile.break_glass.max_duration
        if bg_max is not None and bg_max > max_duration:
            yield Issue(
                f"{at}.breakGlass.maxDuration",
                f"break-glass maxDuration {_fmt(bg_max)} is above the profile's maxDuration ({_fmt(max_duration)})",
            )


def _fmt(duration: timedelta) -> str:
    return format_duration(duration)
