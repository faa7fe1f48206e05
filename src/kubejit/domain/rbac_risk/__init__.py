"""Static analysis of RBAC rules: which permissions of a profile open an escalation path.

A profile is checked before it can be used: a critical or high finding refuses the profile unless the
policy accepts that risk on purpose (``allowRisks`` with a justification). The finding ids are a contract
(DESIGN.md section 5); each finding names the rule that caused it and says in one sentence how the
permission turns into more power than the profile meant to give.

Callers: policy loading and ``kubejit policy check`` / ``policy explain`` (through ``analyze``), and
``kubejit scan`` for standing access. The checks follow the privilege-escalation list of the Kubernetes
"RBAC Good Practices" page, with Kubernetes' own matching rules (``kubejit.domain.rbac``).

Behind this public API: ``_model`` (the value types), ``_matching`` (Kubernetes names and RBAC matching),
``_checks`` (one function per risk that needs more than a grant), ``_registry`` (one entry per id: severity,
cluster-wide severity, sentence, check) and ``_analysis`` (runs every registered check on every rule).
Adding a risk is a ``RiskId`` member with its entry in ``_registry.RISKS`` (import fails on one alone).

Decisions worth knowing when reading a finding:

- Severity starts from each id's registration (the table in ``_registry``, see the comments there). Two
  adjustments follow, in this order: ``cluster_wide`` raises to critical the risks whose reach is "every
  ServiceAccount in the namespace" (with kube-system in reach, that is cluster-admin), and ``resourceNames``
  lowers by one step (never below
  medium) because the named objects bound the blast radius. Narrowing does not lower ``escalate`` (any
  permission can be written into even one role), nor names that are powerful in themselves
  (``cluster-admin``, ``system:*`` roles/users/groups, the built-in ``kubernetes.io/*`` signers).
- Kubernetes never matches ``create`` or ``deletecollection`` of a top-level resource against resourceNames
  (the request carries no name), so a named rule does not grant them and yields no finding for them.
- Rules on cluster-scoped resources (nodes/proxy, nodes, PersistentVolumes, CSRs, webhooks, APIServices,
  CRDs, ClusterRoles) are reported whatever the binding: a RoleBinding makes them inert today, but the rule
  says what the profile asks for, and the same rules may be bound cluster-wide later. Namespaces are the
  exception that is not inert: a RoleBinding granting update on ``namespaces`` lets its subject relabel its
  own namespace (``namespace-write``).
- Every check runs on every rule, so a wildcard rule carries every finding it implies (``cluster-admin``
  does not hide ``secrets-read``). That keeps the analysis monotone: adding rules or widening verbs never
  removes a finding, which allowRisks entries and the property tests rely on.
- A ``nonResourceURLs`` rule is never ``cluster-admin``: non-resource URLs reach no API object. ``*`` verbs
  there are ``wildcard-verbs``, and a wildcard URL reaching /debug, /logs, /metrics or /proxy is
  ``wildcard-resources``; both medium.
- ``resource/*`` (e.g. ``pods/*``) counts as every subresource of that resource (``conservative`` matching
  in :mod:`kubejit.domain.rbac`). kube-apiserver's RBAC itself only knows ``*``, exact names and
  ``*/subresource``, so for such rules the findings err on the side of reporting.
- CSR approval needs two permissions, usually in two rules (update on certificatesigningrequests/approval and
  approve on signers). Each rule holding one half gets the finding; it is critical when the profile holds both
  halves, and one step lower when the other half must come from another binding.
"""

from kubejit.domain.rbac_risk._analysis import analyze
from kubejit.domain.rbac_risk._model import Finding, RiskId, Severity

__all__ = ["Finding", "RiskId", "Severity", "analyze"]
