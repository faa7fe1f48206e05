"""Kubernetes names and RBAC matching as the risk checks need them: "does this rule grant one of these
verbs on one of these resources?", answered with Kubernetes' own rules, fast.

Called by ``_checks`` and ``_registry`` of :mod:`kubejit.domain.rbac_risk` (and its tests).
"""

from __future__ import annotations

from collections.abc import Sequence

from kubejit.domain.rbac import WILDCARD, PolicyRule, api_group_matches, resource_matches, verb_matches

# --- Kubernetes names -------------------------------------------------------------------------------------

CORE = ""
APPS = "apps"
BATCH = "batch"
EXTENSIONS = "extensions"  # removed from servers in 1.16, still named by built-in roles; cheap to cover
RBAC = "rbac.authorization.k8s.io"
AUTHN = "authentication.k8s.io"
CERTS = "certificates.k8s.io"
ADMISSION = "admissionregistration.k8s.io"
APIREGISTRATION = "apiregistration.k8s.io"
APIEXTENSIONS = "apiextensions.k8s.io"
DISCOVERY = "discovery.k8s.io"

Target = tuple[str, str, str]  # (apiGroup, resource, subresource)

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
START = ("create", "update", "patch")  # what makes a pod spec run: a new object or an edited template/image
# WebSocket exec/attach/portforward is an HTTP GET (verb get); SPDY and, since 1.35, WebSocket also check create.
STREAM = ("get", "create")
READ_ONLY_VERBS = frozenset(READ)
# Requests that carry no object name at authorization time, so resourceNames can never match them.
UNNAMED_VERBS = frozenset({"create", "deletecollection"})

WORKLOADS: tuple[Target, ...] = (
    (APPS, "deployments", ""),
    (APPS, "replicasets", ""),
    (APPS, "statefulsets", ""),
    (APPS, "daemonsets", ""),
    (EXTENSIONS, "deployments", ""),
    (EXTENSIONS, "replicasets", ""),
    (EXTENSIONS, "daemonsets", ""),
    (BATCH, "jobs", ""),
    (BATCH, "cronjobs", ""),
    (CORE, "replicationcontrollers", ""),
)
ADMISSION_WEBHOOKS: tuple[Target, ...] = (
    (ADMISSION, "mutatingwebhookconfigurations", ""),
    (ADMISSION, "validatingwebhookconfigurations", ""),
)
# The in-process (CEL) admission policies and the bindings that put them to work, namespaces selected by label.
ADMISSION_POLICIES: tuple[Target, ...] = tuple(
    (ADMISSION, resource, "")
    for resource in (
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
    )
)
NAMESPACED_RBAC: tuple[Target, ...] = ((RBAC, "roles", ""), (RBAC, "rolebindings", ""))
CLUSTER_RBAC: tuple[Target, ...] = ((RBAC, "clusterroles", ""), (RBAC, "clusterrolebindings", ""))
ROLES: tuple[Target, ...] = ((RBAC, "roles", ""), (RBAC, "clusterroles", ""))

# Non-resource endpoints worth a finding when a wildcard URL reaches them: profiling and log-level control
# (/debug/pprof, /debug/flags/v), the control-plane host's logs (/logs), metrics, and the pre-1.10 /proxy paths.
# /api/*, /apis/*, /healthz and /version are left out: every authenticated user reads them (system:discovery).
SENSITIVE_PATHS = ("/debug/pprof/", "/debug/flags/v", "/logs/", "/metrics", "/proxy/")


# --- matching ---------------------------------------------------------------------------------------------


def grants(rule: PolicyRule, verbs: Sequence[str], targets: Sequence[Target]) -> bool:
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
        if not (named and not subresource) or any(verb not in UNNAMED_VERBS for verb in held):
            return True
    return False


def grants_some_subresource(rule: PolicyRule, verb: str, group: str, resource: str) -> bool:
    """``userextras/<key>``: the subresource is free text, so any ``resource/...``, ``*/...`` or ``*`` counts."""
    if not (rule.is_resource_rule and verb_matches(rule, verb) and api_group_matches(rule, group)):
        return False
    prefix = resource + "/"
    return any(c == WILDCARD or c.startswith(prefix) or c.startswith("*/") for c in rule.resources)


def has_write_verb(rule: PolicyRule) -> bool:
    return any(verb not in READ_ONLY_VERBS for verb in rule.verbs)


def wildcard_path_reaches_sensitive(pattern: str) -> bool:
    if pattern == WILDCARD:
        return True
    if not pattern.endswith(WILDCARD):
        return False
    prefix = pattern[:-1]
    return any(path.startswith(prefix) for path in SENSITIVE_PATHS)


def names_powerful(names: Sequence[str]) -> bool:
    """Role, user or group names that are dangerous whatever else the rule says."""
    return any(name == "cluster-admin" or name.startswith("system:") for name in names)


SECRETS: tuple[Target, ...] = ((CORE, "secrets", ""),)
PODS: tuple[Target, ...] = ((CORE, "pods", ""),)
PODS_ATTACH: tuple[Target, ...] = ((CORE, "pods", "attach"),)
SERVICEACCOUNT_TOKENS: tuple[Target, ...] = ((CORE, "serviceaccounts", "token"),)
PERSISTENTVOLUMES: tuple[Target, ...] = ((CORE, "persistentvolumes", ""),)
NAMESPACES: tuple[Target, ...] = ((CORE, "namespaces", ""),)
NODES: tuple[Target, ...] = ((CORE, "nodes", ""), (CORE, "nodes", "status"))
APISERVICES: tuple[Target, ...] = ((APIREGISTRATION, "apiservices", ""),)
CRDS: tuple[Target, ...] = ((APIEXTENSIONS, "customresourcedefinitions", ""),)
# Where a Service's traffic goes: its spec (externalIPs, type ExternalName), its endpoints, and the load balancer
# address in its status (CVE-2020-8554 is both of the first and the last), and the pods' status behind its endpoints.
SERVICE_ROUTES: tuple[Target, ...] = (
    (CORE, "services", ""),
    (CORE, "endpoints", ""),
    (DISCOVERY, "endpointslices", ""),
)
# A pod's status holds the IPs (and the readiness) its Services' endpoints are built from; writing it also
# relabels the pod into another Service's selector.
SERVICE_STATUS: tuple[Target, ...] = ((CORE, "services", "status"), (CORE, "pods", "status"))
