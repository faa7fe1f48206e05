"""The access profiles as people see them: ``GET /api/v1/profiles`` (what the caller may request, its limits and
who approves) and ``GET /api/v1/profiles/{name}/usage`` (what a profile grants and what its grants used, for
``kubejit profiles rightsize``). ``kubejit profiles`` calls them.

The list is decided here, on the server: a profile appears only when the policy names the caller among its
requesters or its break-glass subjects (``Subjects.includes``), so nobody learns of profiles they cannot use.
The usage is for auditors and admins only (:class:`kubejit.services.profile_usage.ProfileUsage`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kubejit.domain.durations import format_duration
from kubejit.domain.policy import AccessPolicy, Identity, Profile
from kubejit.domain.rightsize import parse_window, rule_as_written
from kubejit.entrypoints.api.dependencies import BrokerDep, Caller
from kubejit.services.profile_usage import ProfileUsage

router = APIRouter(prefix="/api/v1/profiles")


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class ApprovalOut(_Out):
    approvers: str  # who, in words: "group payments-leads, user bob"
    required: int  # how many distinct approvals: "1 of 2" reads required of len(approvers named), when users
    self_approval: bool
    auto_approve: str | None  # who is auto-approved, or None
    auto_approve_max_duration: str | None
    auto_approves_you: bool  # the caller's own request would be approved without a reviewer (within the cap)


class BreakGlassOut(_Out):
    allowed: str
    max_duration: str
    you_may: bool  # the caller may break the glass on this profile


class GuardrailOut(_Out):
    name: str
    description: str


class ProfileOut(_Out):
    name: str
    description: str
    scope: str
    namespaces: list[str]
    role: str
    default_duration: str
    max_duration: str
    max_extended_duration: str
    reason_required: bool
    reason_pattern: str | None
    requestable: bool  # through the normal flow (the caller is a requester); False: break-glass only
    approval: ApprovalOut
    break_glass: BreakGlassOut | None
    guardrails: list[GuardrailOut]


def requestable_by(policy: AccessPolicy, who: Identity) -> list[Profile]:
    """The profiles ``who`` may ask for: as a requester, or by breaking the glass."""
    return [
        p
        for p in policy.profiles
        if p.requesters.includes(who) or (p.break_glass is not None and p.break_glass.allowed.includes(who))
    ]


def profile_out(policy: AccessPolicy, profile: Profile, who: Identity) -> ProfileOut:
    approval = profile.approval
    cap = approval.auto_approve_max_duration
    glass = profile.break_glass
    return ProfileOut(
        name=profile.name,
        description=profile.description,
        scope=str(profile.scope),
        namespaces=list(profile.namespaces),
        role=profile.role.describe(),
        default_duration=format_duration(policy.default_duration_of(profile)),
        max_duration=format_duration(policy.max_duration_of(profile)),
        max_extended_duration=format_duration(policy.max_extended_duration_of(profile)),
        reason_required=profile.reason.required,
        reason_pattern=profile.reason.pattern.pattern if profile.reason.pattern else None,
        requestable=profile.requesters.includes(who),
        approval=ApprovalOut(
            approvers=approval.approvers.describe(),
            required=approval.required,
            self_approval=approval.allow_self_approval,
            auto_approve=None if approval.auto_approve.empty else approval.auto_approve.describe(),
            auto_approve_max_duration=format_duration(cap) if cap else None,
            auto_approves_you=approval.auto_approve.includes(who),
        ),
        break_glass=None
        if glass is None
        else BreakGlassOut(
            allowed=glass.allowed.describe(),
            max_duration=format_duration(glass.max_duration or policy.max_duration_of(profile)),
            you_may=glass.allowed.includes(who),
        ),
        guardrails=[GuardrailOut(name=g.name, description=g.description) for g in policy.guardrails_of(profile)],
    )


@router.get("", response_model=list[ProfileOut])
def list_profiles(who: Caller, broker: BrokerDep) -> list[ProfileOut]:
    """The profiles you may request (or break the glass on), with their limits and who approves."""
    policy = broker.access.policy()
    return [profile_out(policy, p, who) for p in requestable_by(policy, who)]


@router.get("/{name}/usage")
def profile_usage(name: str, who: Caller, broker: BrokerDep, since: str = "30d") -> dict[str, Any]:
    """What profile NAME grants (its effective rules) and what its grants used through the gateway since
    ``since`` ago (30d, 12h, ...): for auditors and admins."""
    reader = ProfileUsage(
        broker.access.policy, broker.store, broker.clock, broker.policy.role_rules, broker.audit.may_read_all
    )
    report = reader.report(who, name, parse_window(since))
    profile = report.profile
    return {
        "profile": profile.name,
        "role": profile.role.describe(),
        "scope": str(profile.scope),
        "namespaces": list(profile.namespaces),
        "allowRisks": [{"id": r.id, "justification": r.justification} for r in profile.allow_risks],
        "autoApprove": not profile.approval.auto_approve.empty,
        "breakGlass": profile.break_glass is not None,
        "rules": [rule_as_written(r) for r in report.rules],
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "grants": [
            {
                "id": g.id,
                "clusterUser": g.cluster_user,
                "start": g.start.isoformat(),
                "end": g.end.isoformat(),
                "namespaces": list(g.namespaces),
            }
            for g in report.grants
        ],
        "uses": [
            {
                "grant": grant,
                "verb": u.verb,
                "apiGroup": u.api_group,
                "resource": u.resource,
                "name": u.name,
                "path": u.path,
            }
            for grant, u in report.uses
        ],
        "truncated": report.truncated,
    }
