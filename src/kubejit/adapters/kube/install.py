"""The broker's own RBAC, generated from the policy it will enforce: as little as it needs and nothing more.

Kubernetes lets a subject create a binding only if it already holds every permission of the bound role, or
has the ``bind`` verb on that role (``escalate`` is the equivalent for editing roles). The broker gets
``bind`` restricted by ``resourceNames`` to exactly the roles the policy's profiles name, so a stolen broker
credential can hand out those roles and nothing else: not ``cluster-admin``, not ``edit``, not a role
created later. Inline-rules profiles become one ClusterRole each (``kubejit:profile:<name>``) installed here.

Used by ``kubejit`` install tooling (:func:`render_yaml` gives ``kubectl apply``-able YAML), by the dev
helper :mod:`kubejit.devcluster.broker_access`, and by :mod:`kubejit.adapters.kube.bindings` for the names
of the roles and labels it relies on. Pure: builds dictionaries, talks to nobody.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import AccessPolicy, Profile, RoleKind
from kubejit.domain.rbac import PolicyRule

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubejit"
GRANT_ID_LABEL = "kubejit.io/grant-id"
PROFILE_LABEL = "kubejit.io/profile"
# Which kubejit installation made a binding: brokers sweep only their own, so installations can share a cluster.
INSTANCE_LABEL = "kubejit.io/instance"
DEFAULT_INSTANCE = "default"

BROKER_ROLE = "kubejit:broker"
INLINE_ROLE_PREFIX = "kubejit:profile:"
DEFAULT_NAMESPACE = "kubejit-system"
DEFAULT_SERVICE_ACCOUNT = "kubejit-broker"
DEFAULT_LEASE = "kubejit-broker"
DEFAULT_CHECKPOINT_CONFIGMAP = "kubejit-audit-checkpoint"

# What the broker does to bindings: all of it when grants are bound (RBAC mode), and only finding and deleting its
# own leftovers when they are not (authorization-webhook mode with bindings: false).
BINDING_VERBS = ("get", "list", "watch", "create", "delete", "patch")
LEFTOVER_BINDING_VERBS = ("list", "delete")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_RBAC_NAME = re.compile(r"[a-z0-9]([-a-z0-9.:]*[a-z0-9])?")


def inline_role_name(profile_name: str) -> str:
    """The ClusterRole that holds an inline-rules profile's rules: ``kubejit:profile:<profile>``."""
    if len(profile_name) > 63 or not _DNS_LABEL.fullmatch(profile_name):
        raise InvalidInput(
            f"profile name {profile_name!r} cannot name a ClusterRole: use lower-case letters, digits and '-'"
        )
    return f"{INLINE_ROLE_PREFIX}{profile_name}"


def bound_cluster_roles(policy: AccessPolicy) -> list[str]:
    """Every ClusterRole a binding made for this policy refers to, sorted."""
    names: set[str] = set()
    for profile in policy.profiles:
        if profile.role.kind is RoleKind.CLUSTER_ROLE:
            names.add(profile.role.name)
        elif profile.role.kind is RoleKind.INLINE:
            names.add(inline_role_name(profile.name))
    return sorted(names)


def bound_roles(policy: AccessPolicy) -> dict[str, list[str]]:
    """Every namespaced Role the policy binds, as namespace -> sorted role names."""
    roles: defaultdict[str, set[str]] = defaultdict(set)
    for profile in policy.profiles:
        if profile.role.kind is RoleKind.ROLE:
            if not profile.role.namespace or not profile.role.name:
                raise InvalidInput(f"profile {profile.name}: a Role needs both a name and a namespace")
            roles[profile.role.namespace].add(profile.role.name)
    return {namespace: sorted(names) for namespace, names in sorted(roles.items())}


def _labels(**extra: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, **extra}


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = _labels(**labels)
    return meta


def _rule(
    api_groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str], names: Sequence[str] = ()
) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": list(api_groups), "resources": list(resources), "verbs": list(verbs)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def _bind_rule(resource: str, names: Sequence[str]) -> dict[str, Any]:
    # An empty resourceNames list means "every name": never emit `bind` without names.
    if not names:
        raise InvalidInput(f"refusing to grant bind on all {resource}: no role names given")
    return _rule([RBAC_GROUP], [resource], ["bind"], names)


def _kube_rule(rule: PolicyRule) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": list(rule.verbs)}
    if rule.non_resource_urls:
        out["nonResourceURLs"] = list(rule.non_resource_urls)
        return out
    out["apiGroups"] = list(rule.api_groups)
    out["resources"] = list(rule.resources)
    if rule.resource_names:
        out["resourceNames"] = list(rule.resource_names)
    return out


def _subject(namespace: str, service_account: str) -> list[dict[str, str]]:
    return [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]


def inline_profile_role(profile: Profile) -> dict[str, Any]:
    """The ClusterRole holding an inline-rules profile's rules."""
    if profile.role.kind is not RoleKind.INLINE:
        raise InvalidInput(f"profile {profile.name} does not use inline rules")
    if not profile.role.rules:
        raise InvalidInput(f"profile {profile.name} has no rules: an empty ClusterRole grants nothing")
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(inline_role_name(profile.name), **{PROFILE_LABEL: profile.name}),
        "rules": [_kube_rule(rule) for rule in profile.role.rules],
    }


def broker_rbac(
    policy: AccessPolicy,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    lease_name: str = DEFAULT_LEASE,
    checkpoint_configmap: str = DEFAULT_CHECKPOINT_CONFIGMAP,
    role_name: str = BROKER_ROLE,
    bindings: bool = True,
) -> list[dict[str, Any]]:
    """The manifests that let the broker enforce ``policy`` and do nothing else, in ``kubectl apply`` order.

    Namespace and ServiceAccount; ClusterRole ``kubejit:broker`` (manage bindings, read roles, ``bind`` only the
    policy's ClusterRoles) with its ClusterRoleBinding; for each namespace holding a Role that a profile binds,
    a Role ``kubejit:broker:bind`` with ``bind`` on exactly those Roles, and its RoleBinding; a Role in
    ``namespace`` for the leader-election Lease and the audit checkpoint ConfigMap, and its RoleBinding; one
    ClusterRole per inline-rules profile. ``role_name`` names the broker's roles and bindings (change it only to
    run a second broker, e.g. in tests, next to the default one).

    ``bindings=False`` is for authorization-webhook mode with ``authorizationWebhook.bindings: false``, where the
    broker binds nothing (:class:`kubejit.adapters.no_bindings.NoBindings`): no ``bind``, no ``create`` or
    ``patch`` of bindings, no ``kubejit:broker:bind`` Roles and no inline profiles' ClusterRoles (nothing would
    bind them; the webhook decides on the rules in the policy). It keeps ``list`` and ``delete`` of bindings,
    which it still uses to remove the ones left from RBAC mode (its own, by label), and reading roles.
    """
    for what, value in (
        ("namespace", namespace),
        ("service account", service_account),
        ("lease name", lease_name),
        ("checkpoint ConfigMap name", checkpoint_configmap),
    ):
        if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
            raise InvalidInput(f"{what} {value!r} is not a valid name: use lower-case letters, digits and '-'")
    if len(role_name) > 253 or not _RBAC_NAME.fullmatch(role_name):
        raise InvalidInput(f"role name {role_name!r} is not valid: use lower-case letters, digits, '-', '.' and ':'")
    subjects = _subject(namespace, service_account)
    cluster_roles = bound_cluster_roles(policy)

    binding_verbs = BINDING_VERBS if bindings else LEFTOVER_BINDING_VERBS
    broker_rules = [
        _rule([RBAC_GROUP], ["rolebindings", "clusterrolebindings"], binding_verbs),
        # Read-only view of roles: the risk analysis resolves what each profile really grants.
        _rule([RBAC_GROUP], ["clusterroles", "roles"], ["get", "list"]),
    ]
    if cluster_roles and bindings:
        broker_rules.append(_bind_rule("clusterroles", cluster_roles))

    manifests: list[dict[str, Any]] = [
        *_service_account(namespace, service_account),
        {
            "apiVersion": RBAC_API_VERSION,
            "kind": "ClusterRole",
            "metadata": _meta(role_name),
            "rules": broker_rules,
        },
        _binding("ClusterRoleBinding", role_name, None, "ClusterRole", role_name, subjects),
    ]

    # `bind` on a Role is granted only in the Role's own namespace: a Role of the same name elsewhere stays
    # out of reach.
    bind_role = f"{role_name}:bind"
    for role_namespace, names in bound_roles(policy).items() if bindings else ():
        manifests.append(
            {
                "apiVersion": RBAC_API_VERSION,
                "kind": "Role",
                "metadata": _meta(bind_role, role_namespace),
                "rules": [_bind_rule("roles", names)],
            }
        )
        manifests.append(_binding("RoleBinding", bind_role, role_namespace, "Role", bind_role, subjects))

    # `create` cannot be narrowed by resourceNames (the name is not known when it is authorized), so it is a
    # separate rule, confined to the broker's own namespace by being a Role.
    manifests.append(
        {
            "apiVersion": RBAC_API_VERSION,
            "kind": "Role",
            "metadata": _meta(role_name, namespace),
            "rules": [
                _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [lease_name]),
                _rule(["coordination.k8s.io"], ["leases"], ["create"]),
                _rule([""], ["configmaps"], ["get", "update", "patch"], [checkpoint_configmap]),
                _rule([""], ["configmaps"], ["create"]),
            ],
        }
    )
    manifests.append(_binding("RoleBinding", role_name, namespace, "Role", role_name, subjects))

    if bindings:  # unbound, an inline profile's ClusterRole is never used: the webhook reads the policy's rules
        manifests.extend(
            inline_profile_role(profile) for profile in policy.profiles if profile.role.kind is RoleKind.INLINE
        )
    return manifests


def _binding(
    kind: str,
    name: str,
    namespace: str | None,
    role_kind: str,
    role_name: str,
    subjects: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": kind,
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def render_yaml(manifests: Iterable[Mapping[str, Any]]) -> str:
    """Manifests as one multi-document YAML text, ready for ``kubectl apply -f -``."""
    return yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False, explicit_start=True)


GATEWAY_ROLE = "kubejit:gateway"
DEFAULT_GATEWAY_USER = "kubejit-gateway"
DEFAULT_GATEWAY_SERVICE_ACCOUNT = "kubejit-gateway"


def gateway_rbac(
    *,
    user: str = DEFAULT_GATEWAY_USER,
    role_name: str = GATEWAY_ROLE,
    service_account_namespace: str | None = None,
    service_account: str = DEFAULT_GATEWAY_SERVICE_ACCOUNT,
) -> list[dict[str, Any]]:
    """The gateway's RBAC: impersonate users and groups (that is how it acts as each person, whose own RBAC then
    decides), and read roles (to know what each profile grants). Impersonation is powerful: the gateway's
    credentials must be guarded like an admin's; it holds no other permission and cannot impersonate
    ServiceAccounts, UIDs or extra fields.

    The subject is the user ``user`` (a client certificate), or, with ``service_account_namespace``, the
    ServiceAccount ``service_account`` there (the gateway in a pod), whose Namespace and ServiceAccount come
    first."""
    role = {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(role_name),
        "rules": [
            _rule([""], ["users", "groups"], ["impersonate"]),
            _rule([RBAC_GROUP], ["clusterroles", "roles"], ["get", "list"]),
        ],
    }
    if service_account_namespace is None:
        subject = [{"kind": "User", "name": user, "apiGroup": RBAC_GROUP}]
        return [role, _binding("ClusterRoleBinding", role_name, None, "ClusterRole", role_name, subject)]
    accounts = _service_account(service_account_namespace, service_account)
    subjects = _subject(service_account_namespace, service_account)
    return [*accounts, role, _binding("ClusterRoleBinding", role_name, None, "ClusterRole", role_name, subjects)]


def _service_account(namespace: str, name: str) -> list[dict[str, Any]]:
    """A ServiceAccount and its Namespace, for ``kubectl apply``."""
    for what, value in (("namespace", namespace), ("service account", name)):
        if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
            raise InvalidInput(f"{what} {value!r} is not a valid name: use lower-case letters, digits and '-'")
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace)},
    ]
