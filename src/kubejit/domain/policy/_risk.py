"""A profile's risk assessment: its RBAC findings against its ``allowRisks`` and the auto-approval rule.

Why it exists: the policy review (``services/policy_review``) assesses every profile against the rules its role
resolves to, and a refused profile keeps a policy from starting; ``domain/rightsize`` checks a suggested
profile the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubejit.domain.policy._model import Profile
from kubejit.domain.rbac_risk import Finding, Severity


@dataclass(frozen=True)
class ProfileAssessment:
    """A profile's findings, and whether they refuse it."""

    profile: str
    findings: tuple[Finding, ...]
    accepted: tuple[Finding, ...]  # blocking findings listed in allowRisks
    refusals: tuple[str, ...]  # why the profile may not be used; empty when usable

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


def assess_profile(profile: Profile, findings: tuple[Finding, ...]) -> ProfileAssessment:
    """Apply ``allowRisks`` and the auto-approval rule to a profile's findings.

    A critical or high finding refuses the profile unless its id is accepted with a justification.
    Critical findings are never auto-approved or self-activated: a profile with one must not list
    ``autoApprove`` subjects or allow break-glass, even when the risk is accepted.
    """
    refusals: list[str] = []
    accepted: list[Finding] = []
    for finding in findings:
        if not finding.blocking:
            continue
        if profile.accepted_risk(finding.id) is None:
            refusals.append(
                f"{finding.severity} risk {finding.id} from rule {finding.rule_index} ({finding.rule}): "
                f"{finding.why}; list it in allowRisks with a justification to accept it"
            )
        else:
            accepted.append(finding)
    critical = sorted({f.id for f in findings if f.severity is Severity.CRITICAL})
    if critical and not profile.approval.auto_approve.empty:
        refusals.append(
            f"critical risk(s) {', '.join(critical)} may never be auto-approved: remove approval.autoApprove"
        )
    if critical and profile.break_glass is not None:
        refusals.append(f"critical risk(s) {', '.join(critical)} may never be self-activated: remove breakGlass")
    return ProfileAssessment(profile.name, findings, tuple(accepted), tuple(refusals))
