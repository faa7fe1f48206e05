"""The risk checks, one per risk: a ``Grants`` where "the rule grants these verbs on these resources" says
it all, a function where it takes more.

A check looks at one rule (and what the profile holds overall) and answers whether the rule carries its
risk. Called only through the table of :mod:`kubejit.domain.rbac_risk._registry`, which says each risk's
id, severity and sentence; a check answers with a ``Match`` only where the rule at hand changes those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubejit.domain.rbac import WILDCARD, PolicyRule
from kubejit.domain.rbac_risk._matching import (
    ADMISSION_POLICIES,
    ADMISSION_WEBHOOKS,
    APISERVICES,
    AUTHN,
    CERTS,
    CLUSTER_RBAC,
    CORE,
    CRDS,
    NAMESPACED_RBAC,
    NAMESPACES,
    NODES,
    PERSISTENTVOLUMES,
    PODS,
    PODS_ATTACH,
    READ,
    ROLES,
    SECRETS,
    SERVICE_ROUTES,
    SERVICE_STATUS,
    SERVICEACCOUNT_TOKENS,
    START,
    STREAM,
    WORKLOADS,
    WRITE,
    Target,
    grants,
    grants_some_subresource,
    has_write_verb,
    names_powerful,
    wildcard_path_reaches_sensitive,
)
from kubejit.domain.rbac_risk._model import Severity

_C, _H, _M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM


@dataclass(frozen=True)
class Profile:
    """What a check may know beyond its own rule."""

    cluster_wide: bool
    has_csr_approval: bool  # some rule allows update/patch on certificatesigningrequests/approval
    has_csr_signer: bool  # some rule allows approve on signers
    signer_power: Severity  # the strongest signer half in the profile (critical: built-in or all signers)


@dataclass(frozen=True)
class Match:
    """A check's answer when the registered sentence, severity or narrowing does not fit the rule at hand.

    ``None`` fields keep what the registration says (``narrowed``: whether the rule has resourceNames).
    """

    why: str | None = None
    severity: Severity | None = None
    narrowed: bool | None = None


# A check answers False (no finding), True (a finding as registered) or a Match (a finding worded for the rule).
Check = Callable[[PolicyRule, Profile], bool | Match]


@dataclass(frozen=True)
class Grants:
    """The check of a risk that is only "the rule grants one of ``verbs`` on one of ``targets``"."""

    verbs: Sequence[str]
    targets: Sequence[Target]

    def __call__(self, rule: PolicyRule, _profile: Profile) -> bool:
        return grants(rule, self.verbs, self.targets)


# The risks that are only "the rule grants these verbs on these resources".
escalate = Grants(("escalate",), ROLES)
secrets_read = Grants(READ, SECRETS)
pods_attach = Grants(STREAM, PODS_ATTACH)
pods_create = Grants(START, PODS)
workloads_create = Grants(START, WORKLOADS)
serviceaccount_token = Grants(("create",), SERVICEACCOUNT_TOKENS)
# A Secret of type kubernetes.io/service-account-token, annotated with a ServiceAccount's name, is filled in
# by the token controller (create), or an existing Secret is turned into one (update/patch).
secrets_write = Grants(("create", "update", "patch"), SECRETS)
persistentvolume_create = Grants(("create",), PERSISTENTVOLUMES)
# Relabelling a namespace (create carries no name a RoleBinding could match, and a new namespace holds nothing yet).
namespace_write = Grants(("update", "patch"), NAMESPACES)
node_write = Grants(("update", "patch"), NODES)
apiservice_write = Grants(WRITE, APISERVICES)
crd_write = Grants(WRITE, CRDS)


def webhook_config(rule: PolicyRule, _profile: Profile) -> bool | Match:
    """Webhooks as registered; the CEL admission policies and their bindings alone get their own sentence
    (no object leaves the API server, but they deny and rewrite as webhooks do, and are guardrails)."""
    if grants(rule, WRITE, ADMISSION_WEBHOOKS):
        return True
    if not grants(rule, WRITE, ADMISSION_POLICIES):
        return False
    why = (
        "can change, unbind or remove admission policies (CEL), which deny or rewrite objects at admission "
        "and enforce guardrails such as pod restrictions"
    )
    return Match(why)


def network_redirect(rule: PolicyRule, _profile: Profile) -> bool:
    """Creating or editing a Service (externalIPs), its Endpoints or EndpointSlices, its load balancer status, or the
    status of the pods behind it."""
    return grants(rule, START, SERVICE_ROUTES) or grants(rule, ("update", "patch"), SERVICE_STATUS)


def cluster_admin(rule: PolicyRule, _profile: Profile) -> bool:
    return (
        rule.is_resource_rule
        and not rule.resource_names
        and WILDCARD in rule.verbs
        and WILDCARD in rule.api_groups
        and WILDCARD in rule.resources
    )


def wildcard_verbs(rule: PolicyRule, _profile: Profile) -> bool:
    return WILDCARD in rule.verbs


def _full_wildcard_write(rule: PolicyRule) -> bool:
    return WILDCARD in rule.api_groups and WILDCARD in rule.resources and has_write_verb(rule)


def wildcard_resources(rule: PolicyRule, _profile: Profile) -> bool | Match:
    if not rule.is_resource_rule:
        if not any(wildcard_path_reaches_sensitive(p) for p in rule.non_resource_urls):
            return False
        why = "reaches every non-resource URL under its wildcard, such as the API server's /debug, /logs or /metrics"
        return Match(why, _M)
    if not any(WILDCARD in resource for resource in rule.resources):
        return False
    why = "covers every resource or subresource its wildcard matches, including ones added to the cluster later"
    return _full_wildcard_write(rule) or Match(why, _M)


def wildcard_apigroups(rule: PolicyRule, _profile: Profile) -> bool | Match:
    if not (rule.is_resource_rule and rule.resources and WILDCARD in rule.api_groups):
        return False
    why = "matches its resources in every API group, core, RBAC and custom resources added later included"
    return _full_wildcard_write(rule) or Match(why, _M)


def bind(rule: PolicyRule, _profile: Profile) -> bool | Match:
    if not grants(rule, ("bind",), ROLES):
        return False
    names = rule.resource_names
    if not names:
        return True
    why = "can bind the named roles to any subject, itself too, without holding what they grant"
    return Match(why, narrowed=not names_powerful(names))


_IMPERSONATE_TARGETS: tuple[tuple[Target, Severity, str], ...] = (
    ((CORE, "users", ""), _C, "any user"),
    ((CORE, "groups", ""), _C, "any group (system:masters is cluster-admin)"),
    ((CORE, "serviceaccounts", ""), _H, "any ServiceAccount"),
    # UIDs and extras only decorate an impersonated user, but authorizers and webhooks may trust them.
    ((AUTHN, "uids", ""), _H, "any user UID"),
)


def impersonate(rule: PolicyRule, profile: Profile) -> bool | Match:
    """Users/groups: critical (system:masters); ServiceAccounts only: high, the reach of pods-create (critical
    in every namespace). The sentence names whom the rule reaches."""
    severity: Severity | None = None
    whom: list[str] = []
    for target, base, label in _IMPERSONATE_TARGETS:
        if grants(rule, ("impersonate",), (target,)):
            if target[1] == "serviceaccounts" and profile.cluster_wide:
                base = base.step(+1)
                label += " in every namespace (kube-system too)"
            severity = base if severity is None or base.rank > severity.rank else severity
            whom.append(label)
    if grants_some_subresource(rule, "impersonate", AUTHN, "userextras"):
        severity = severity or _H
        whom.append("any user extra")
    if severity is None:
        return False
    names = rule.resource_names
    why = f"can send requests as {', '.join(whom)}, and so hold all of their permissions"
    return Match(why, severity, narrowed=bool(names) and not names_powerful(names))


def pods_exec(rule: PolicyRule, _profile: Profile) -> bool:
    return grants(rule, STREAM, ((CORE, "pods", "exec"),)) or grants(
        rule, ("update", "patch"), ((CORE, "pods", "ephemeralcontainers"),)
    )


_PROXIES: tuple[Target, ...] = ((CORE, "pods", "proxy"), (CORE, "services", "proxy"))


def pods_portforward(rule: PolicyRule, _profile: Profile) -> bool:
    return grants(rule, STREAM, ((CORE, "pods", "portforward"),)) or grants(
        rule, ("get", "create", "update", "patch", "delete"), _PROXIES
    )


def nodes_proxy(rule: PolicyRule, _profile: Profile) -> bool:
    """Any HTTP method will do (a GET upgraded to a WebSocket runs commands); verb proxy on nodes is the
    pre-1.10 /api/v1/proxy/nodes path, kept for old clusters."""
    return grants(rule, ("get", "create", "update", "patch", "delete"), ((CORE, "nodes", "proxy"),)) or grants(
        rule, ("proxy",), ((CORE, "nodes", ""),)
    )


_CSR_APPROVAL: tuple[Target, ...] = ((CERTS, "certificatesigningrequests", "approval"),)
_SIGNERS: tuple[Target, ...] = ((CERTS, "signers", ""),)


def grants_csr_approval(rule: PolicyRule) -> bool:
    return grants(rule, ("update", "patch"), _CSR_APPROVAL)


def signer_power(rule: PolicyRule) -> Severity | None:
    """How strong this rule's signer half is: critical for all signers or a built-in one, else high."""
    if not grants(rule, ("approve",), _SIGNERS):
        return None
    names = rule.resource_names
    if not names or any(name.startswith("kubernetes.io/") for name in names):
        return _C
    return _H


def csr_approve(rule: PolicyRule, profile: Profile) -> bool | Match:
    """Critical with both halves in the profile, one step lower while a half must come from another binding.

    CSR names are chosen by whoever creates the CSR, so resourceNames on the approval half narrow nothing;
    the signer half's resourceNames decide its power instead.
    """
    approval = grants_csr_approval(rule)
    own_signer = signer_power(rule)
    if not approval and own_signer is None:
        return False
    severities: list[Severity] = []
    if approval:
        severities.append(profile.signer_power if profile.has_csr_signer else _C.step(-1))
    if own_signer is not None:
        severities.append(own_signer if profile.has_csr_approval else own_signer.step(-1))
    severity = max(severities, key=lambda s: s.rank)
    if profile.has_csr_approval and profile.has_csr_signer and profile.signer_power is _H:
        why = "can approve certificate signing requests for the custom signers named in resourceNames only"
    elif profile.has_csr_approval and profile.has_csr_signer:
        return Match(severity=severity)
    else:
        missing = "approve on signers" if approval else "update on certificatesigningrequests/approval"
        why = f"can approve certificate signing requests (for system:masters too) once {missing} comes from any binding"
    return Match(why, severity)


def rbac_write(rule: PolicyRule, _profile: Profile) -> bool | Match:
    """ClusterRoles and ClusterRoleBindings as registered; Roles and RoleBindings in one namespace: high."""
    if grants(rule, WRITE, CLUSTER_RBAC):
        return True
    if not grants(rule, WRITE, NAMESPACED_RBAC):
        return False
    why = "can write Roles and RoleBindings, so it can bind its permissions to an identity it controls past the grant"
    return Match(why, _H)
