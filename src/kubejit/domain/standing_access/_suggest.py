"""The access profiles that would replace a scan's standing risky bindings with just-in-time access.

One profile per distinct (role, scope) of the scan's own findings (derived findings have no binding of their
own to replace): the role by name as the binding named it, cluster-wide for a ClusterRoleBinding, namespaced
in every namespace a RoleBinding bound it in, requested by the users and groups the bindings named. What a
policy cannot say is left out and said why: ServiceAccounts (workloads do not request access) and
``system:`` names (Kubernetes' own, refused by the policy loader).

The policy core refuses a profile with a critical or high risk unless ``allowRisks`` accepts it with a
justification. Here a high risk is accepted with a justification that says it was standing access and asks
for a review (the profile is still narrower in time, approved, and audited); a critical risk (cluster-admin,
wildcards, escalate, bind, impersonate, ...) is never accepted on the user's behalf: such a profile comes
with ``refusal`` set and is written commented out with it. Pure; ``kubejit scan --suggest`` writes the result
as an AccessPolicy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kubejit.domain.identity_names import group_name_problem, user_name_problem
from kubejit.domain.rbac_risk import Finding, RiskId, Severity
from kubejit.domain.standing_access._model import BindingDef, RoleKind, RoleRef, StandingFinding, SubjectKind
from kubejit.domain.standing_access._reach import worst_of_each

APPROVERS_PLACEHOLDER = "REPLACE-ME-approvers"
_MAX_DURATION = {Severity.CRITICAL: "30m", Severity.HIGH: "1h", Severity.MEDIUM: "4h"}
_NAME_LIMIT = 63


@dataclass(frozen=True)
class SuggestedProfile:
    """One profile to replace standing bindings; ``refusal`` says why kubejit would refuse it as written."""

    name: str
    role: RoleRef
    role_namespace: str  # a Role's namespace; empty for a ClusterRole
    cluster_wide: bool
    namespaces: tuple[str, ...]  # where RoleBindings bound it; empty when cluster-wide
    users: tuple[str, ...]
    groups: tuple[str, ...]
    risks: tuple[Finding, ...]  # the worst of each id, the worst first
    replaces: tuple[BindingDef, ...]
    left_out: tuple[str, ...]  # subjects of the bindings a policy cannot name, each with why
    max_duration: str
    refusal: str = ""

    @property
    def accepted_risks(self) -> tuple[RiskId, ...]:
        """The blocking (critical, high) risk ids that ``allowRisks`` must list for the profile to be usable."""
        return tuple(dict.fromkeys(risk.id for risk in self.risks if risk.blocking))


_Key = tuple[RoleKind, str, str, bool]  # role kind, a Role's namespace, role name, cluster-wide


def _key(finding: StandingFinding) -> _Key:
    binding = finding.binding
    role_namespace = binding.namespace if finding.role.kind is RoleKind.ROLE else ""
    return (finding.role.kind, role_namespace, finding.role.name, binding.cluster_wide)


def _requester(finding: StandingFinding) -> tuple[str, str] | tuple[None, str]:
    """("users"|"groups", name) for a subject a policy can name, else (None, why it cannot)."""
    subject = finding.subject
    if subject.kind is SubjectKind.SERVICE_ACCOUNT:
        return None, f"{subject}: a workload, which does not request access (narrow its role instead)"
    field = "users" if subject.kind is SubjectKind.USER else "groups"
    problem = (user_name_problem if field == "users" else group_name_problem)(subject.name)
    if problem is not None:
        return None, f"{subject}: a policy cannot name it ({problem})"
    return field, subject.name


def _refusal(risks: Sequence[Finding], requesters: int, left_out: Sequence[str]) -> str:
    critical = list(dict.fromkeys(str(risk.id) for risk in risks if risk.severity is Severity.CRITICAL))
    if critical:
        named = ", ".join(critical[:4]) + (f" and {len(critical) - 4} more" if len(critical) > 4 else "")
        return (
            f"kubejit refuses a profile with critical risks ({named}) unless allowRisks "
            "accepts each with a justification, and --suggest accepts no critical risk for you: such a role hands "
            "over control of its scope (roles, bindings, tokens); split the work into narrower roles, or accept "
            "the risks here by hand if a person really needs this just in time"
        )
    if not requesters:
        return f"nobody a policy can name held it ({'; '.join(left_out)}), so nobody could request it"
    return ""


def _name(role: RoleRef, key: _Key, taken: set[str]) -> str:
    kind, role_namespace, _, cluster_wide = key
    base = f"{role_namespace}-{role.name}" if kind is RoleKind.ROLE else role.name
    base = base if cluster_wide or kind is RoleKind.ROLE else f"{base}-namespaced"
    cleaned = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:_NAME_LIMIT].strip("-") or "profile"
    name, number = cleaned, 2
    while name in taken:
        suffix = f"-{number}"
        name, number = cleaned[: _NAME_LIMIT - len(suffix)].rstrip("-") + suffix, number + 1
    taken.add(name)
    return name


def _profile(key: _Key, group: Sequence[StandingFinding], taken: set[str]) -> SuggestedProfile:
    requesters: dict[str, dict[str, None]] = {"users": {}, "groups": {}}
    left_out: dict[str, None] = {}
    for finding in group:
        field, name = _requester(finding)
        if field is None:
            left_out[name] = None
        else:
            requesters[field][name] = None
    risks = worst_of_each(risk for finding in group for risk in finding.findings)
    role = group[0].role
    users, groups = tuple(sorted(requesters["users"])), tuple(sorted(requesters["groups"]))
    return SuggestedProfile(
        name=_name(role, key, taken),
        role=role,
        role_namespace=key[1],
        cluster_wide=key[3],
        namespaces=() if key[3] else tuple(sorted({finding.binding.namespace for finding in group})),
        users=users,
        groups=groups,
        risks=risks,
        replaces=tuple(dict.fromkeys(finding.binding for finding in group)),
        left_out=tuple(left_out),
        max_duration=_MAX_DURATION[risks[0].severity],
        refusal=_refusal(risks, len(users) + len(groups), tuple(left_out)),
    )


def suggest_profiles(findings: Sequence[StandingFinding]) -> tuple[SuggestedProfile, ...]:
    """The profiles for a scan's findings (``ScanReport.findings``), the usable ones first, then by name."""
    groups: dict[_Key, list[StandingFinding]] = {}
    for finding in findings:
        if not finding.derived:
            groups.setdefault(_key(finding), []).append(finding)
    taken: set[str] = set()
    profiles = [_profile(key, group, taken) for key, group in groups.items()]
    return tuple(sorted(profiles, key=lambda profile: (bool(profile.refusal), profile.name)))
