"""The value types of a standing-access scan: RBAC objects as plain values in, findings out.

The kube adapter (``kubejit.adapters.kube.rbac_dump``) builds the input values from a live cluster or a dump
file; :mod:`._scan` turns them into a :class:`ScanReport`; ``kubejit scan`` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import Finding, RiskId, Severity


class SubjectKind(StrEnum):
    USER = "User"
    GROUP = "Group"
    SERVICE_ACCOUNT = "ServiceAccount"


class RoleKind(StrEnum):
    CLUSTER_ROLE = "ClusterRole"
    ROLE = "Role"


class BindingKind(StrEnum):
    CLUSTER_ROLE_BINDING = "ClusterRoleBinding"
    ROLE_BINDING = "RoleBinding"


@dataclass(frozen=True)
class Subject:
    """Who a binding names. ``namespace`` only for ServiceAccounts."""

    kind: SubjectKind
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        if self.kind is SubjectKind.SERVICE_ACCOUNT:
            return f"ServiceAccount {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class SelectorRequirement:
    """One matchExpressions entry: ``key`` ``operator`` (In, NotIn, Exists, DoesNotExist) ``values``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector: every matchLabels pair AND every expression must hold."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[SelectorRequirement, ...] = ()


@dataclass(frozen=True)
class ClusterRoleDef:
    """A ClusterRole. ``aggregation`` holds its aggregationRule's selectors (empty: not aggregated)."""

    name: str
    rules: tuple[PolicyRule, ...]
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    aggregation: tuple[LabelSelector, ...] = ()


@dataclass(frozen=True)
class RoleDef:
    namespace: str
    name: str
    rules: tuple[PolicyRule, ...]
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class RoleRef:
    kind: RoleKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class BindingDef:
    """A ClusterRoleBinding (``namespace`` empty) or a RoleBinding (its namespace)."""

    kind: BindingKind
    name: str
    role_ref: RoleRef
    subjects: tuple[Subject, ...]
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def cluster_wide(self) -> bool:
        return self.kind is BindingKind.CLUSTER_ROLE_BINDING

    @property
    def scope(self) -> str:
        """``cluster`` or the namespace the binding grants in."""
        return "cluster" if self.cluster_wide else self.namespace

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" if self.cluster_wide else f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class PodDef:
    """A pod as far as a scan cares: where it runs and as which ServiceAccount (``default`` when unset)."""

    namespace: str
    name: str
    service_account: str = "default"


@dataclass(frozen=True)
class RbacSnapshot:
    """The four lists a scan reads, as one cluster (or dump) holds them, and the pods when they were read
    (``None``: not read, so exec and attach are taken to reach any pod's ServiceAccount)."""

    cluster_roles: tuple[ClusterRoleDef, ...] = ()
    roles: tuple[RoleDef, ...] = ()
    cluster_role_bindings: tuple[BindingDef, ...] = ()
    role_bindings: tuple[BindingDef, ...] = ()
    pods: tuple[PodDef, ...] | None = None


@dataclass(frozen=True)
class ReachedAccount:
    """A risky ServiceAccount that a derived finding's subject can act as through pods or its token."""

    account: Subject
    through: RiskId  # the subject's own risk that opens the way: pods-create, workloads-create, pods-exec, ...
    binding: BindingDef  # the subject's binding that grants it
    gained: tuple[Finding, ...]  # the account's risks the subject does not already hold as badly, the worst first
    account_binding: BindingDef  # the account's binding that grants the worst of them
    running_pods_only: bool = False  # exec, attach, an image swap: only the accounts pods already run as
    pods: tuple[str, ...] = ()  # exec/attach with pods read: the running pods (namespace/name) that run as it


@dataclass(frozen=True)
class StandingFinding:
    """One subject's standing risky access through one binding: the risks its role opens in the scope.

    A derived finding (``acts_as`` not empty) is a subject that can act as risky ServiceAccounts (through
    pods or their tokens): ``binding`` and ``role`` are the subject's own that open the way, ``findings``
    the risks it gains so, and ``acts_as`` each account reached, the worst first.
    """

    subject: Subject
    binding: BindingDef
    role: RoleRef
    findings: tuple[Finding, ...]  # from kubejit.domain.rbac_risk, the worst first
    path: str  # the escalation path in one sentence
    acts_as: tuple[ReachedAccount, ...] = ()

    @property
    def derived(self) -> bool:
        return bool(self.acts_as)

    @property
    def severity(self) -> Severity:
        return self.findings[0].severity

    @property
    def risk_ids(self) -> tuple[RiskId, ...]:
        """Each id once, in the order of ``findings`` (the worst first)."""
        return tuple(dict.fromkeys(finding.id for finding in self.findings))


@dataclass(frozen=True)
class Grant:
    """A (binding, subject) pair without a finding of its own: a system default or a missing role."""

    subject: Subject
    binding: BindingDef


@dataclass(frozen=True)
class ScanReport:
    findings: tuple[StandingFinding, ...]  # the worst first
    system_defaults: tuple[Grant, ...]  # Kubernetes' own bindings of system identities, reported apart
    missing_roles: tuple[BindingDef, ...]  # bindings whose role does not exist (they grant nothing today)

    def worst(self) -> Severity | None:
        return self.findings[0].severity if self.findings else None
