"""Label values that stay few: every label kubejit exports comes from a small fixed set or from names in the policy.

Why it exists: a label value is a time series. A user name, request id, namespace or URL path as a label would
grow without bound (and put people's names into the monitoring system), so the broker's and the gateway's
metrics pass every label value through these functions first. Called by ``_broker`` and ``_gateway``.
"""

from __future__ import annotations

from collections.abc import Collection

OTHER = "other"  # what a value outside the known set becomes
UNKNOWN = "unknown"  # no value was known at all (e.g. a refusal before any grant was looked up)

VERBS = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy", "connect"}
)
_STREAMING = frozenset({"exec", "attach", "portforward"})
_WORKLOAD_GROUPS = frozenset({"apps", "batch", "autoscaling", "policy"})
_RBAC_GROUP = "rbac.authorization.k8s.io"

RESOURCE_CLASSES = ("streaming", "secrets", "pods", "rbac", "workloads", "core", "nonresource", OTHER)


def bounded(value: str | None, known: Collection[str]) -> str:
    """``value`` when it is one of ``known``, ``unknown`` when there is none, else ``other``."""
    if not value:
        return UNKNOWN
    return value if value in known else OTHER


def verb_label(verb: str | None) -> str:
    return bounded(verb, VERBS)


def resource_class(*, resource: str | None, subresource: str | None, api_group: str | None, is_resource: bool) -> str:
    """A coarse class of what a request touches, for the latency histogram: one of :data:`RESOURCE_CLASSES`."""
    if not is_resource:
        return "nonresource"
    if subresource in _STREAMING:
        return "streaming"
    group = api_group or ""
    if group == "" and resource == "secrets":
        return "secrets"
    if group == "" and resource == "pods":
        return "pods"
    if group == _RBAC_GROUP:
        return "rbac"
    if group in _WORKLOAD_GROUPS:
        return "workloads"
    if group == "":
        return "core"
    return OTHER


def status_class(status: int) -> str:
    """``2xx`` .. ``5xx`` (``other`` for anything else)."""
    return f"{status // 100}xx" if 100 <= status < 600 else OTHER


def guardrail_of(rule: str) -> str:
    """The guardrail's name in a decision's rule (``no-destructive.deny[0]`` -> ``no-destructive``)."""
    return rule.split(".", 1)[0]
