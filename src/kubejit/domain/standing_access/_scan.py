"""``scan``: every binding of a snapshot resolved to its subjects and the risks its role opens in its scope.

The risks are the policy core's (:func:`kubejit.domain.rbac_risk.analyze`, the analysis ``kubejit policy
check`` runs on a profile): a ClusterRoleBinding is analyzed as cluster-wide, a RoleBinding as namespaced even
when it names a ClusterRole. Each role is analyzed once per scope, however many bindings name it. Called by
``kubejit scan`` and the scan benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kubejit.domain.errors import InvalidInput
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import Finding, analyze
from kubejit.domain.standing_access._aggregation import ClusterRoleRules
from kubejit.domain.standing_access._defaults import is_system_default
from kubejit.domain.standing_access._model import (
    BindingDef,
    Grant,
    RbacSnapshot,
    RoleKind,
    ScanReport,
    StandingFinding,
    Subject,
    SubjectKind,
)
from kubejit.domain.standing_access._reach import derived_findings, worst_first

_SERVICE_ACCOUNT_USER = "system:serviceaccount:"


class _Roles:
    """The effective rules and the findings of each (role, scope) of one snapshot, computed once each."""

    def __init__(self, snapshot: RbacSnapshot) -> None:
        self._cluster_roles = ClusterRoleRules(snapshot.cluster_roles)
        self._roles = {(role.namespace, role.name): role.rules for role in snapshot.roles}
        self._findings: dict[tuple[RoleKind, str, str, bool], tuple[Finding, ...] | None] = {}

    def findings_of(self, binding: BindingDef) -> tuple[Finding, ...] | None:
        """The role's findings in the binding's scope, the worst first; None when the role does not exist."""
        ref = binding.role_ref
        namespace = binding.namespace if ref.kind is RoleKind.ROLE else ""
        key = (ref.kind, namespace, ref.name, binding.cluster_wide)
        if key not in self._findings:
            rules = self._rules(ref.kind, namespace, ref.name)
            self._findings[key] = None if rules is None else _analyzed(rules, binding)
        return self._findings[key]

    def _rules(self, kind: RoleKind, namespace: str, name: str) -> tuple[PolicyRule, ...] | None:
        if kind is RoleKind.CLUSTER_ROLE:
            return self._cluster_roles.rules_of(name)
        return self._roles.get((namespace, name))


def _analyzed(rules: tuple[PolicyRule, ...], binding: BindingDef) -> tuple[Finding, ...]:
    try:
        findings = analyze(rules, cluster_wide=binding.cluster_wide)
    except InvalidInput as error:
        raise InvalidInput(f"{binding.role_ref} (bound by {binding}): {error}") from error
    # cluster-admin leads its severity (it says all the others at once); then the analysis's order, kept stable.
    return tuple(sorted(findings, key=worst_first))


def _subject(subject: Subject, binding: BindingDef) -> Subject:
    """ServiceAccounts as ServiceAccounts: a RoleBinding's without a namespace is in the binding's, and a User
    spelled ``system:serviceaccount:NS:NAME`` is that ServiceAccount (kube-apiserver authenticates it so)."""
    if subject.kind is SubjectKind.SERVICE_ACCOUNT and not subject.namespace:
        return Subject(subject.kind, subject.name, binding.namespace)
    if subject.kind is SubjectKind.USER and subject.name.startswith(_SERVICE_ACCOUNT_USER):
        namespace, _, name = subject.name.removeprefix(_SERVICE_ACCOUNT_USER).partition(":")
        if namespace and name:
            return Subject(SubjectKind.SERVICE_ACCOUNT, name, namespace)
    return subject


def path_sentence(subject: Subject, binding: BindingDef, worst: Finding) -> str:
    """How the subject gets the worst risk, in one sentence."""
    where = "in every namespace" if binding.cluster_wide else f"in namespace {binding.namespace}"
    return f"{subject} holds {binding.role_ref} {where} through {binding}: the role {worst.why}"


def _bindings(snapshot: RbacSnapshot) -> Iterator[BindingDef]:
    yield from snapshot.cluster_role_bindings
    yield from snapshot.role_bindings


def scan(snapshot: RbacSnapshot) -> ScanReport:
    """Every risky (binding, subject) pair as a finding, and the subjects that can act as risky
    ServiceAccounts through pods (``_reach``), the worst first; system defaults and bindings of
    missing roles apart. Raises ``InvalidInput`` for a role whose rules the analysis cannot judge."""
    roles = _Roles(snapshot)
    found: list[StandingFinding] = []
    defaults: list[Grant] = []
    missing: list[BindingDef] = []
    for binding in _bindings(snapshot):
        findings = roles.findings_of(binding)
        if findings is None:
            missing.append(binding)
            continue
        for subject in _resolved_subjects(binding):
            if is_system_default(binding, subject):
                defaults.append(Grant(subject, binding))
            elif findings:
                path = path_sentence(subject, binding, findings[0])
                found.append(StandingFinding(subject, binding, binding.role_ref, findings, path))
    found.extend(derived_findings(found, snapshot.pods))
    return ScanReport(tuple(_sorted(found)), tuple(defaults), tuple(missing))


def _resolved_subjects(binding: BindingDef) -> Iterable[Subject]:
    return dict.fromkeys(_subject(subject, binding) for subject in binding.subjects)


def _sorted(findings: Iterable[StandingFinding]) -> list[StandingFinding]:
    return sorted(
        findings,
        key=lambda f: (-f.severity.rank, f.binding.scope != "cluster", str(f.subject), str(f.binding), f.derived),
    )
