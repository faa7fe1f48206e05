"""Static analysis of RBAC rules: which permissions of a profile open an escalation path.

A profile is checked before it can be used: a critical or high finding refuses the profile unless the
policy accepts that risk on purpose (``allowRisks`` with a justification). The finding ids are a contract
(DESIGN.md section 5); each finding names the rule that caused it and says in one sentence how the
permission turns into more power than the profile meant to give.

Callers: policy loading and ``kubejit policy check`` / ``policy explain`` (through ``analyze``), and
``kubejit scan`` for standing access. The checks follow the privilege-escalation list of the Kubernetes
"RBAC Good Practices" page, with Kubernetes' own matching rules (``kubejit.domain.rbac``).

Decisions worth knowing when reading a finding:

- Severity starts from the table in ``_BASE`` (see the comments there). Two adjustments follow, in this
  order: ``cluster_wide`` raises by one step the risks whose reach is "every ServiceAccount in the namespace"
  (with kube-system in reach, that is cluster-admin), and ``resourceNames`` lowers by one step (never below
  medium) because the named objects bound the blast radius. Narrowing does not lower ``escalate`` (any
  permission can be written into even one role), nor names that are powerful in themselves
  (``cluster-admin``, ``system:*`` roles/users/groups, the built-in ``kubernetes.io/*`` signers).
- Kubernetes never matches ``create`` or ``deletecollection`` of a top-level resource against resourceNames
  (the request carries no name), so a named rule does not grant them and yields no finding for them.
- Rules on cluster-scoped resources (nodes/proxy, PersistentVolumes, CSRs, webhooks, ClusterRoles) are
  reported whatever the binding: a RoleBinding makes them inert today, but the rule says what the profile
  asks for, and the same rules may be bound cluster-wide later.
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

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kubejit.domain.errors import InvalidInput
from kubejit.domain.rbac import WILDCARD, PolicyRule, api_group_matches, resource_matches, verb_matches


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"

    @property
    def rank(self) -> int:
        return {"critical": 3, "high": 2, "medium": 1}[self.value]


RISK_IDS: frozenset[str] = frozenset(
    {
        "wildcard-verbs",
        "wildcard-resources",
        "wildcard-apigroups",
        "escalate",
        "bind",
        "impersonate",
        "secrets-read",
        "pods-exec",
        "pods-attach",
        "pods-portforward",
        "pods-create",
        "workloads-create",
        "nodes-proxy",
        "serviceaccount-token",
        "csr-approve",
        "webhook-config",
        "rbac-write",
        "persistentvolume-create",
        "cluster-admin",
    }
)


@dataclass(frozen=True)
class Finding:
    """One risk: its contract id, how bad, which rule (and its index in the profile's rules), and why."""

    id: str
    severity: Severity
    rule: PolicyRule
    rule_index: int
    why: str

    @property
    def blocking(self) -> bool:
        """Critical and high findings refuse a profile unless accepted in allowRisks."""
        return self.severity in (Severity.CRITICAL, Severity.HIGH)


# --- Kubernetes names -------------------------------------------------------------------------------------

_CORE = ""
_APPS = "apps"
_BATCH = "batch"
_EXTENSIONS = "extensions"  # removed from servers in 1.16, still named by built-in roles; cheap to cover
_RBAC = "rbac.authorization.k8s.io"
_AUTHN = "authentication.k8s.io"
_CERTS = "certificates.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"

_Target = tuple[str, str, str]  # (apiGroup, resource, subresource)

_READ = ("get", "list", "watch")
_WRITE = ("create", "update", "patch", "delete", "deletecollection")
_START = ("create", "update", "patch")  # what makes a pod spec run: a new object or an edited template/image
# WebSocket exec/attach/portforward is an HTTP GET (verb get); SPDY and, since 1.35, WebSocket also check create.
_STREAM = ("get", "create")
_READ_ONLY_VERBS = frozenset(_READ)
# Requests that carry no object name at authorization time, so resourceNames can never match them.
_UNNAMED_VERBS = frozenset({"create", "deletecollection"})

_WORKLOADS: tuple[_Target, ...] = (
    (_APPS, "deployments", ""),
    (_APPS, "replicasets", ""),
    (_APPS, "statefulsets", ""),
    (_APPS, "daemonsets", ""),
    (_EXTENSIONS, "deployments", ""),
    (_EXTENSIONS, "replicasets", ""),
    (_EXTENSIONS, "daemonsets", ""),
    (_BATCH, "jobs", ""),
    (_BATCH, "cronjobs", ""),
    (_CORE, "replicationcontrollers", ""),
)
_ADMISSION_CONFIG: tuple[_Target, ...] = tuple(
    (_ADMISSION, resource, "")
    for resource in (
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
    )
)
_NAMESPACED_RBAC: tuple[_Target, ...] = ((_RBAC, "roles", ""), (_RBAC, "rolebindings", ""))
_CLUSTER_RBAC: tuple[_Target, ...] = ((_RBAC, "clusterroles", ""), (_RBAC, "clusterrolebindings", ""))
_ROLES: tuple[_Target, ...] = ((_RBAC, "roles", ""), (_RBAC, "clusterroles", ""))

# Non-resource endpoints worth a finding when a wildcard URL reaches them: profiling and log-level control
# (/debug/pprof, /debug/flags/v), the control-plane host's logs (/logs), metrics, and the pre-1.10 /proxy paths.
# /api/*, /apis/*, /healthz and /version are left out: every authenticated user reads them (system:discovery).
_SENSITIVE_PATHS = ("/debug/pprof/", "/debug/flags/v", "/logs/", "/metrics", "/proxy/")


# --- severities -------------------------------------------------------------------------------------------

_C, _H, _M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
_BY_RANK = {severity.rank: severity for severity in Severity}

# Unrestricted severity of each id, before the cluster-wide raise and the resourceNames step down.
_BASE: dict[str, Severity] = {
    "cluster-admin": _C,
    "escalate": _C,
    "bind": _C,
    # users/groups: critical (system:masters); serviceaccounts only: high, the same reach as pods-create.
    "impersonate": _C,
    "nodes-proxy": _C,  # the kubelet API: commands in every pod on the node, no audit, no admission
    "csr-approve": _C,  # a client certificate for system:masters; one step lower while a half is missing
    "webhook-config": _C,
    "rbac-write": _C,  # cluster-scoped RBAC; roles/rolebindings in one namespace are high
    # Full wildcards are critical only together (every group and every resource) with a write verb; otherwise
    # they are hygiene (future resources, future verbs) and the concrete risks they reach have their own ids.
    "wildcard-resources": _C,
    "wildcard-apigroups": _C,
    "wildcard-verbs": _M,
    "secrets-read": _H,
    "pods-exec": _H,
    "pods-attach": _H,
    "pods-create": _H,
    "workloads-create": _H,
    "serviceaccount-token": _H,
    "persistentvolume-create": _H,
    "pods-portforward": _M,  # network reach into pods, no identity
}

# Risks that reach "any ServiceAccount (or Secret) in the namespace": granted in every namespace, that includes
# kube-system's controllers (e.g. the one holding escalate), so they become critical. Attach is left out: it
# needs a container that keeps stdin open, which system pods rarely do. rbac-write on roles/rolebindings in
# every namespace persists the subject's rights cluster-wide, like ClusterRoleBindings would.
_RAISED_WHEN_CLUSTER_WIDE = frozenset(
    {"secrets-read", "pods-exec", "pods-create", "workloads-create", "serviceaccount-token", "rbac-write"}
)


def _step(severity: Severity, by: int) -> Severity:
    return _BY_RANK[max(1, min(3, severity.rank + by))]


# --- matching ---------------------------------------------------------------------------------------------


def _grants(rule: PolicyRule, verbs: Sequence[str], targets: Sequence[_Target]) -> bool:
    """Does ``rule`` allow one of ``verbs`` on one of ``targets``, for at least one object name?

    Same matching as ``rbac.rule_allows_resource`` (a test holds them equal), inlined for speed: this runs
    a few hundred thousand times for a large policy.
    """
    if rule.non_resource_urls:
        return False
    rule_verbs = rule.verbs
    held = verbs if WILDCARD in rule_verbs else [verb for verb in verbs if verb in rule_verbs]
    if not held:
        return False
    groups = rule.api_groups
    any_group = WILDCARD in groups
    named = bool(rule.resource_names)
    for group, resource, subresource in targets:
        if not (any_group or group in groups) or not resource_matches(rule, resource, subresource, conservative=True):
            continue
        if not (named and not subresource) or any(verb not in _UNNAMED_VERBS for verb in held):
            return True
    return False


def _grants_some_subresource(rule: PolicyRule, verb: str, group: str, resource: str) -> bool:
    """``userextras/<key>``: the subresource is free text, so any ``resource/...``, ``*/...`` or ``*`` counts."""
    if not (rule.is_resource_rule and verb_matches(rule, verb) and api_group_matches(rule, group)):
        return False
    prefix = resource + "/"
    return any(c == WILDCARD or c.startswith(prefix) or c.startswith("*/") for c in rule.resources)


def _has_write_verb(rule: PolicyRule) -> bool:
    return any(verb not in _READ_ONLY_VERBS for verb in rule.verbs)


def _wildcard_path_reaches_sensitive(pattern: str) -> bool:
    if pattern == WILDCARD:
        return True
    if not pattern.endswith(WILDCARD):
        return False
    prefix = pattern[:-1]
    return any(path.startswith(prefix) for path in _SENSITIVE_PATHS)


def _names_powerful(names: Sequence[str]) -> bool:
    """Role, user or group names that are dangerous whatever else the rule says."""
    return any(name == "cluster-admin" or name.startswith("system:") for name in names)


# --- checks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    """What a check may know beyond its own rule."""

    cluster_wide: bool
    has_csr_approval: bool  # some rule allows update/patch on certificatesigningrequests/approval
    has_csr_signer: bool  # some rule allows approve on signers
    signer_power: Severity  # the strongest signer half in the profile (critical: built-in or all signers)


@dataclass(frozen=True)
class _Hit:
    severity: Severity
    why: str


def _hit(
    risk_id: str,
    rule: PolicyRule,
    why: str,
    *,
    profile: _Profile,
    severity: Severity | None = None,
    narrowed: bool | None = None,
) -> _Hit:
    """Finish a hit: ``severity`` (default: the id's base) raised for cluster-wide grants where the id says so,
    then lowered when ``narrowed`` (default: the rule has resourceNames); each adjustment is named in ``why``."""
    if severity is None:
        severity = _BASE[risk_id]
    if profile.cluster_wide and risk_id in _RAISED_WHEN_CLUSTER_WIDE and severity is not _C:
        severity = _step(severity, +1)
        why += ", and the grant covers every namespace, kube-system included"
    if rule.resource_names if narrowed is None else narrowed:
        severity = _step(severity, -1)
        why += f" (limited to resourceNames {', '.join(rule.resource_names)})"
    return _Hit(severity, why + ".")


_Check = Callable[[PolicyRule, _Profile], _Hit | None]


def _cluster_admin(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not (
        rule.is_resource_rule
        and not rule.resource_names
        and WILDCARD in rule.verbs
        and WILDCARD in rule.api_groups
        and WILDCARD in rule.resources
    ):
        return None
    why = "grants every verb on every resource in every API group: full control of its scope, RBAC and tokens included"
    return _hit("cluster-admin", rule, why, profile=profile)


def _wildcard_verbs(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if WILDCARD not in rule.verbs:
        return None
    why = "grants every verb, escalate, bind, impersonate and verbs added later included, more than the rule shows"
    return _hit("wildcard-verbs", rule, why, profile=profile)


def _full_wildcard_write(rule: PolicyRule) -> bool:
    return WILDCARD in rule.api_groups and WILDCARD in rule.resources and _has_write_verb(rule)


def _wildcard_resources(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not rule.is_resource_rule:
        if not any(_wildcard_path_reaches_sensitive(p) for p in rule.non_resource_urls):
            return None
        why = "reaches every non-resource URL under its wildcard, such as the API server's /debug, /logs or /metrics"
        return _hit("wildcard-resources", rule, why, profile=profile, severity=_M)
    if not any(WILDCARD in resource for resource in rule.resources):
        return None
    if _full_wildcard_write(rule):
        why = "can write every resource of every API group, Secrets, RBAC, pods and admission webhooks included"
        return _hit("wildcard-resources", rule, why, profile=profile)
    why = "covers every resource or subresource its wildcard matches, including ones added to the cluster later"
    return _hit("wildcard-resources", rule, why, profile=profile, severity=_M)


def _wildcard_apigroups(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not (rule.is_resource_rule and rule.resources and WILDCARD in rule.api_groups):
        return None
    if _full_wildcard_write(rule):
        why = "can write every resource of every API group, Secrets, RBAC, pods and admission webhooks included"
        return _hit("wildcard-apigroups", rule, why, profile=profile)
    why = "matches its resources in every API group, core, RBAC and custom resources added later included"
    return _hit("wildcard-apigroups", rule, why, profile=profile, severity=_M)


def _escalate(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, ("escalate",), _ROLES):
        return None
    # Not narrowed by resourceNames: editing one role beyond one's own permissions can put anything in it.
    why = "can write roles with permissions it does not hold (no escalation check), and so gain any permission"
    return _hit("escalate", rule, why, profile=profile, narrowed=False)


def _bind(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, ("bind",), _ROLES):
        return None
    names = rule.resource_names
    which = "the named roles" if names else "any role, cluster-admin included,"
    why = f"can bind {which} to any subject, itself too, without holding what they grant"
    return _hit("bind", rule, why, profile=profile, narrowed=bool(names) and not _names_powerful(names))


_IMPERSONATE_TARGETS: tuple[tuple[_Target, Severity, str], ...] = (
    ((_CORE, "users", ""), _C, "any user"),
    ((_CORE, "groups", ""), _C, "any group (system:masters is cluster-admin)"),
    ((_CORE, "serviceaccounts", ""), _H, "any ServiceAccount"),
    # UIDs and extras only decorate an impersonated user, but authorizers and webhooks may trust them.
    ((_AUTHN, "uids", ""), _H, "any user UID"),
)


def _impersonate(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    severity: Severity | None = None
    whom: list[str] = []
    for target, base, label in _IMPERSONATE_TARGETS:
        if _grants(rule, ("impersonate",), (target,)):
            if target[1] == "serviceaccounts" and profile.cluster_wide:
                base = _step(base, +1)
                label += " in every namespace (kube-system too)"
            severity = base if severity is None or base.rank > severity.rank else severity
            whom.append(label)
    if _grants_some_subresource(rule, "impersonate", _AUTHN, "userextras"):
        severity = severity or _H
        whom.append("any user extra")
    if severity is None:
        return None
    names = rule.resource_names
    why = f"can send requests as {', '.join(whom)}, and so hold all of their permissions"
    narrowed = bool(names) and not _names_powerful(names)
    return _hit("impersonate", rule, why, profile=profile, severity=severity, narrowed=narrowed)


def _secrets_read(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, _READ, ((_CORE, "secrets", ""),)):
        return None
    why = "can read Secret values (list and watch return them too), ServiceAccount tokens and credentials included"
    return _hit("secrets-read", rule, why, profile=profile)


def _pods_exec(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    exec_ = _grants(rule, _STREAM, ((_CORE, "pods", "exec"),))
    if not (exec_ or _grants(rule, ("update", "patch"), ((_CORE, "pods", "ephemeralcontainers"),))):
        return None
    why = (
        "can run commands in running containers (exec or an added ephemeral container) and use their tokens and mounts"
    )
    return _hit("pods-exec", rule, why, profile=profile)


def _pods_attach(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, _STREAM, ((_CORE, "pods", "attach"),)):
        return None
    why = "can attach to the main process of running containers and act through it with the pod's ServiceAccount"
    return _hit("pods-attach", rule, why, profile=profile)


_PROXIES: tuple[_Target, ...] = ((_CORE, "pods", "proxy"), (_CORE, "services", "proxy"))


def _pods_portforward(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not (
        _grants(rule, _STREAM, ((_CORE, "pods", "portforward"),))
        or _grants(rule, ("get", "create", "update", "patch", "delete"), _PROXIES)
    ):
        return None
    why = "can connect to pod and Service ports through the API server (port-forward or proxy), bypassing NetworkPolicy"
    return _hit("pods-portforward", rule, why, profile=profile)


def _pods_create(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, _START, ((_CORE, "pods", ""),)):
        return None
    why = "can start a pod (or swap a pod's image) that mounts any ServiceAccount token in the namespace and act as it"
    return _hit("pods-create", rule, why, profile=profile)


def _workloads_create(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, _START, _WORKLOADS):
        return None
    why = "can create or change a workload controller whose pods mount any ServiceAccount token in the namespace"
    return _hit("workloads-create", rule, why, profile=profile)


def _nodes_proxy(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    # Any HTTP method will do (a GET upgraded to a WebSocket runs commands); verb proxy on nodes is the
    # pre-1.10 /api/v1/proxy/nodes path, kept for old clusters.
    if not (
        _grants(rule, ("get", "create", "update", "patch", "delete"), ((_CORE, "nodes", "proxy"),))
        or _grants(rule, ("proxy",), ((_CORE, "nodes", ""),))
    ):
        return None
    why = "reaches the kubelet API, which runs commands in every pod on the node and bypasses audit and admission"
    return _hit("nodes-proxy", rule, why, profile=profile)


def _serviceaccount_token(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, ("create",), ((_CORE, "serviceaccounts", "token"),)):
        return None
    why = "can mint a token for any ServiceAccount in the namespace and act as it"
    return _hit("serviceaccount-token", rule, why, profile=profile)


_CSR_APPROVAL: tuple[_Target, ...] = ((_CERTS, "certificatesigningrequests", "approval"),)
_SIGNERS: tuple[_Target, ...] = ((_CERTS, "signers", ""),)


def _grants_csr_approval(rule: PolicyRule) -> bool:
    return _grants(rule, ("update", "patch"), _CSR_APPROVAL)


def _signer_power(rule: PolicyRule) -> Severity | None:
    """How strong this rule's signer half is: critical for all signers or a built-in one, else high."""
    if not _grants(rule, ("approve",), _SIGNERS):
        return None
    names = rule.resource_names
    if not names or any(name.startswith("kubernetes.io/") for name in names):
        return _C
    return _H


def _csr_approve(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    approval = _grants_csr_approval(rule)
    own_signer = _signer_power(rule)
    if not approval and own_signer is None:
        return None
    severities: list[Severity] = []
    # CSR names are chosen by whoever creates the CSR, so resourceNames on the approval half narrow nothing.
    if approval:
        severities.append(profile.signer_power if profile.has_csr_signer else _step(_BASE["csr-approve"], -1))
    if own_signer is not None:
        severities.append(own_signer if profile.has_csr_approval else _step(own_signer, -1))
    severity = max(severities, key=lambda s: s.rank)
    if profile.has_csr_approval and profile.has_csr_signer and profile.signer_power is _H:
        why = "can approve certificate signing requests for the custom signers named in resourceNames only"
    elif profile.has_csr_approval and profile.has_csr_signer:
        why = (
            "can approve certificate signing requests, such as a client certificate for system:masters (cluster-admin)"
        )
    else:
        missing = "approve on signers" if approval else "update on certificatesigningrequests/approval"
        why = f"can approve certificate signing requests (for system:masters too) once {missing} comes from any binding"
    return _Hit(severity, why + ".")


def _webhook_config(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, _WRITE, _ADMISSION_CONFIG):
        return None
    why = "can change or remove admission webhooks and policies, which see and rewrite objects and enforce guardrails"
    return _hit("webhook-config", rule, why, profile=profile)


def _rbac_write(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if _grants(rule, _WRITE, _CLUSTER_RBAC):
        why = "can write ClusterRoles and ClusterRoleBindings, so it can keep its rights cluster-wide past the grant"
        return _hit("rbac-write", rule, why, profile=profile)
    if _grants(rule, _WRITE, _NAMESPACED_RBAC):
        why = (
            "can write Roles and RoleBindings, so it can bind its permissions to an identity it controls past the grant"
        )
        return _hit("rbac-write", rule, why, profile=profile, severity=_H)
    return None


def _persistentvolume_create(rule: PolicyRule, profile: _Profile) -> _Hit | None:
    if not _grants(rule, ("create",), ((_CORE, "persistentvolumes", ""),)):
        return None
    why = "can create a hostPath PersistentVolume and, through a claim, mount the node's filesystem into a pod"
    return _hit("persistentvolume-create", rule, why, profile=profile)


_CHECKS: tuple[tuple[str, _Check], ...] = (
    ("cluster-admin", _cluster_admin),
    ("wildcard-verbs", _wildcard_verbs),
    ("wildcard-resources", _wildcard_resources),
    ("wildcard-apigroups", _wildcard_apigroups),
    ("escalate", _escalate),
    ("bind", _bind),
    ("impersonate", _impersonate),
    ("secrets-read", _secrets_read),
    ("pods-exec", _pods_exec),
    ("pods-attach", _pods_attach),
    ("pods-portforward", _pods_portforward),
    ("pods-create", _pods_create),
    ("workloads-create", _workloads_create),
    ("nodes-proxy", _nodes_proxy),
    ("serviceaccount-token", _serviceaccount_token),
    ("csr-approve", _csr_approve),
    ("webhook-config", _webhook_config),
    ("rbac-write", _rbac_write),
    ("persistentvolume-create", _persistentvolume_create),
)
# Sorted once, so findings of one rule come out ordered by id without sorting per call.
_CHECKS_BY_ID = tuple(sorted(_CHECKS))


def _validate(rules: Sequence[PolicyRule]) -> None:
    """Refuse rules the analysis would otherwise silently skip, instead of reporting no risk for them."""
    for index, rule in enumerate(rules):
        if rule.non_resource_urls and (rule.api_groups or rule.resources or rule.resource_names):
            raise InvalidInput(
                f"rule {index} ({rule}) mixes nonResourceURLs with apiGroups/resources/resourceNames; "
                "Kubernetes rejects that, write them as two rules"
            )


def analyze(rules: Sequence[PolicyRule], *, cluster_wide: bool = False) -> tuple[Finding, ...]:
    """Risk findings for the effective rules of one access profile.

    ``cluster_wide`` says the rules are granted by a ClusterRoleBinding (every namespace), which raises the
    risks that reach every ServiceAccount or Secret of a namespace. Findings come ordered by rule index, then
    id, with at most one finding per (id, rule). Raises ``InvalidInput`` for a rule that mixes
    nonResourceURLs with resources, which the analysis could not judge.
    """
    _validate(rules)
    signer_powers = [power for power in map(_signer_power, rules) if power is not None]
    profile = _Profile(
        cluster_wide=cluster_wide,
        has_csr_approval=any(map(_grants_csr_approval, rules)),
        has_csr_signer=bool(signer_powers),
        signer_power=max(signer_powers, key=lambda s: s.rank, default=_H),
    )
    return tuple(
        Finding(risk_id, hit.severity, rule, index, hit.why)
        for index, rule in enumerate(rules)
        for risk_id, hit in _rule_hits(rule, profile)
    )


@functools.lru_cache(maxsize=4096)
def _rule_hits(rule: PolicyRule, profile: _Profile) -> tuple[tuple[str, _Hit], ...]:
    """The hits of one rule, ordered by id. Cached: profiles of one policy mostly share their rules (the same
    ClusterRoles), and both arguments are immutable, so a cached answer is the answer."""
    hits: list[tuple[str, _Hit]] = []
    for risk_id, check in _CHECKS_BY_ID:
        hit = check(rule, profile)
        if hit is not None:
            hits.append((risk_id, hit))
    return tuple(hits)
