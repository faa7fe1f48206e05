"""Standing access: who holds risky RBAC permissions in a cluster right now, without asking for them.

``kubejit scan`` reads a cluster's (or a dump's) ClusterRoles, Roles, ClusterRoleBindings and RoleBindings
into an :class:`RbacSnapshot` (``kubejit.adapters.kube.rbac_dump``) and calls :func:`scan`: every binding is
resolved to its subjects and its role's effective rules (aggregated ClusterRoles resolved from their label
selectors), and those rules are judged by the same risk analysis as a profile in ``kubejit policy check``
(``kubejit.domain.rbac_risk``): cluster-wide for a ClusterRoleBinding, namespaced for a RoleBinding. The
pairs that are Kubernetes' own defaults are counted apart (``_defaults`` says which). Subjects that can act as
a risky ServiceAccount through pods or its token get derived findings (``_reach``).

Behind this API: ``_model`` (the values), ``_aggregation`` (label selectors and aggregated rules),
``_defaults`` (what counts as a system default), ``_reach`` (acting as ServiceAccounts), ``_scan``, and
``_suggest`` (the profiles that would replace the standing bindings: ``kubejit scan --suggest``).
"""

from kubejit.domain.standing_access._aggregation import selector_matches
from kubejit.domain.standing_access._defaults import BOOTSTRAP_LABEL, is_system_default
from kubejit.domain.standing_access._model import (
    BindingDef,
    BindingKind,
    ClusterRoleDef,
    Grant,
    LabelSelector,
    PodDef,
    RbacSnapshot,
    ReachedAccount,
    RoleDef,
    RoleKind,
    RoleRef,
    ScanReport,
    SelectorRequirement,
    StandingFinding,
    Subject,
    SubjectKind,
)
from kubejit.domain.standing_access._scan import scan
from kubejit.domain.standing_access._suggest import APPROVERS_PLACEHOLDER, SuggestedProfile, suggest_profiles

__all__ = [
    "APPROVERS_PLACEHOLDER",
    "BOOTSTRAP_LABEL",
    "BindingDef",
    "BindingKind",
    "ClusterRoleDef",
    "Grant",
    "LabelSelector",
    "PodDef",
    "RbacSnapshot",
    "ReachedAccount",
    "RoleDef",
    "RoleKind",
    "RoleRef",
    "ScanReport",
    "SelectorRequirement",
    "StandingFinding",
    "Subject",
    "SubjectKind",
    "SuggestedProfile",
    "is_system_default",
    "scan",
    "selector_matches",
    "suggest_profiles",
]
