"""The access policy: who may ask for which access profile, who approves, for how long, under which guardrails.

These are the typed, immutable values the rest of kubejit obeys. They are built by the policy-file loader
(:mod:`kubejit.adapters.policy_file`), which reports problems with file, line and column; the checks that
span several fields live here, as :func:`semantic_issues`, and report a field path that the loader turns
into a position; :func:`subject_name_issues` is the loader's check of each user and group name it reads.
Profile risk assessment (RBAC findings against ``allowRisks``) is :func:`assess_profile`.

Behind this API: ``_model`` (the policy, its profiles and their settings), ``_subjects`` (identities, subjects
lists, claims rules, the identity mapping), ``_namespaces`` (namespace patterns), ``_issues`` (the problem
types and :class:`PolicyError`), ``_checks`` (the checks that span fields), ``_subject_checks`` (names and
claims rules of subjects lists) and ``_risk`` (profile risk assessment).
"""

from kubejit.domain.policy._checks import semantic_issues
from kubejit.domain.policy._issues import Issue, LocatedIssue, PolicyError
from kubejit.domain.policy._model import (
    AcceptedRisk,
    AccessPolicy,
    Approval,
    BreakGlass,
    Defaults,
    Profile,
    ReasonRule,
    RoleKind,
    RoleSource,
    Scope,
)
from kubejit.domain.policy._risk import ProfileAssessment, assess_profile
from kubejit.domain.policy._subject_checks import claim_rule_issues, claims_kept_by_nobody, subject_name_issues
from kubejit.domain.policy._subjects import ClaimMatch, Claims, Identity, IdentityMapping, Subjects, claim_match_from

__all__ = [
    "AcceptedRisk",
    "AccessPolicy",
    "Approval",
    "BreakGlass",
    "ClaimMatch",
    "Claims",
    "Defaults",
    "Identity",
    "IdentityMapping",
    "Issue",
    "LocatedIssue",
    "PolicyError",
    "Profile",
    "ProfileAssessment",
    "ReasonRule",
    "RoleKind",
    "RoleSource",
    "Scope",
    "Subjects",
    "assess_profile",
    "claim_match_from",
    "claim_rule_issues",
    "claims_kept_by_nobody",
    "semantic_issues",
    "subject_name_issues",
]
