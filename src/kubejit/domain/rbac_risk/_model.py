"""The value types of the RBAC risk analysis: severities, the contract ids of findings, and the finding.

Used by every module of :mod:`kubejit.domain.rbac_risk` and, through its public API, by policy loading
(``allowRisks`` ids), the policy review service and ``kubejit policy check|explain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kubejit.domain.rbac import PolicyRule

_RANKS = {"critical": 3, "high": 2, "medium": 1}
"""The rank of each severity's value: higher is worse."""


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"

    @property
    def rank(self) -> int:
        return _RANKS[self.value]

    def step(self, by: int) -> Severity:
        """``by`` steps up (positive) or down, never beyond critical or below medium."""
        rank = max(1, min(3, self.rank + by))
        return next(severity for severity in Severity if severity.rank == rank)


class RiskId(StrEnum):
    """The finding ids. Their values are a contract (DESIGN.md section 5): policies name them in allowRisks,
    and ``policy check -o json`` prints them. Each id has exactly one entry in ``_registry.RISKS``."""

    WILDCARD_VERBS = "wildcard-verbs"
    WILDCARD_RESOURCES = "wildcard-resources"
    WILDCARD_APIGROUPS = "wildcard-apigroups"
    ESCALATE = "escalate"
    BIND = "bind"
    IMPERSONATE = "impersonate"
    SECRETS_READ = "secrets-read"
    PODS_EXEC = "pods-exec"
    PODS_ATTACH = "pods-attach"
    PODS_PORTFORWARD = "pods-portforward"
    PODS_CREATE = "pods-create"
    WORKLOADS_CREATE = "workloads-create"
    NODES_PROXY = "nodes-proxy"
    SERVICEACCOUNT_TOKEN = "serviceaccount-token"  # noqa: S105 (an id, not a secret)
    CSR_APPROVE = "csr-approve"
    WEBHOOK_CONFIG = "webhook-config"
    RBAC_WRITE = "rbac-write"
    PERSISTENTVOLUME_CREATE = "persistentvolume-create"
    CLUSTER_ADMIN = "cluster-admin"
    NAMESPACE_WRITE = "namespace-write"
    NODE_WRITE = "node-write"
    APISERVICE_WRITE = "apiservice-write"
    CRD_WRITE = "crd-write"
    NETWORK_REDIRECT = "network-redirect"
    SECRETS_WRITE = "secrets-write"

    @classmethod
    def parse(cls, text: str) -> RiskId | None:
        """The id spelled ``text``, or None when no risk has that id (policy loading reports it)."""
        try:
            return cls(text)
        except ValueError:
            return None


@dataclass(frozen=True)
class Finding:
    """One risk: its contract id, how bad, which rule (and its index in the profile's rules), and why."""

    id: RiskId
    severity: Severity
    rule: PolicyRule
    rule_index: int
    why: str

    @property
    def blocking(self) -> bool:
        """Critical and high findings refuse a profile unless accepted in allowRisks."""
        return self.severity in (Severity.CRITICAL, Severity.HIGH)
