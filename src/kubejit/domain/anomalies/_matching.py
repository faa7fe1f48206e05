"""Which activity each kind of rule counts: one small predicate per kind, on plain values.

The detector (``_detector``) asks :func:`counts` for every rule and activity, and :func:`counting_key` for what
makes two counted events the same one (a Secret read twice counts once). What the gateway cannot tell (a pod's
spec, the body of a write) is not guessed here: docs/alerts.md says what each kind can and cannot see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

from kubejit.domain.anomalies._activity import (
    DELETE_VERBS,
    GUARDRAIL_REFUSAL_PREFIX,
    READ_VERBS,
    WRITE_VERBS,
    Activity,
    GrantFacts,
)
from kubejit.domain.anomalies._rules import AlertRule, RuleKind
from kubejit.domain.audit import AuditKind

RBAC_GROUP = "rbac.authorization.k8s.io"
WORKLOADS: Mapping[str, frozenset[str]] = {
    "": frozenset({"pods", "replicationcontrollers"}),
    "apps": frozenset({"deployments", "statefulsets", "daemonsets", "replicasets"}),
    "batch": frozenset({"jobs", "cronjobs"}),
}
_STREAMS = frozenset({"pods/exec", "pods/attach"})
# Upgraded connections: kubectl opens them with a POST (SPDY, verb create) or a GET (WebSocket, verb get), and
# kube-apiserver authorizes both as create; the rules judge them alike, whichever transport kubectl picked.
_UPGRADED = _STREAMS | {"pods/portforward"}

Predicate = Callable[[AlertRule, Activity, GrantFacts], bool]


def _guardrail_denial(_rule: AlertRule, activity: Activity, _grant: GrantFacts) -> bool:
    if not activity.refused:
        return False
    if activity.guardrail is not None:  # the gateway (or the webhook) said which guardrail, if any, refused it
        return bool(activity.guardrail)
    # A record from a gateway older than the structured field: its batches may still arrive after the broker was
    # upgraded (gateways roll out on their own and resend what they queued), so its wording is read.
    return activity.reason.startswith(GUARDRAIL_REFUSAL_PREFIX)


def _forbidden(_rule: AlertRule, activity: Activity, _grant: GrantFacts) -> bool:
    return activity.status == 403  # HTTP Forbidden, from the gateway or from kube-apiserver


def _secret_read(_rule: AlertRule, activity: Activity, _grant: GrantFacts) -> bool:
    return (
        activity.succeeded
        and activity.api_group == ""
        and activity.resource == "secrets"
        and activity.verb in READ_VERBS
    )


def _delete(_rule: AlertRule, activity: Activity, _grant: GrantFacts) -> bool:
    return activity.succeeded and activity.verb in DELETE_VERBS


def _privileged_exec(rule: AlertRule, activity: Activity, _grant: GrantFacts) -> bool:
    if activity.resource not in _STREAMS or activity.kind == AuditKind.ACTIVITY_SESSION_CLOSED:
        return False  # an exec is counted when it starts, not again when its session closes
    if activity.phase == "end":
        return False  # nor an attach (recorded at its start too); an older gateway's attach counts at its end
    return any(fnmatchcase(activity.namespace, p) for p in rule.namespaces) or any(
        fnmatchcase(activity.name, p) for p in rule.names
    )


def _ephemeral_container(_rule: AlertRule, activity: Activity, _grant: GrantFacts) -> bool:
    return activity.resource == "pods/ephemeralcontainers" and activity.verb in WRITE_VERBS


def _outside_namespaces(_rule: AlertRule, activity: Activity, grant: GrantFacts) -> bool:
    return (
        activity.refused
        and bool(grant.namespaces)
        and bool(activity.namespace)
        and activity.namespace not in grant.namespaces
    )


def _event_deletion(_rule: AlertRule, activity: Activity, _grant: GrantFacts) -> bool:
    return activity.succeeded and activity.verb in DELETE_VERBS and _is_events(activity)


def _is_events(activity: Activity) -> bool:
    return activity.resource == "events" and activity.api_group in ("", "events.k8s.io")


def is_rbac_write(activity: Activity) -> bool:
    return activity.succeeded and activity.api_group == RBAC_GROUP and activity.verb in WRITE_VERBS


def is_workload_write(activity: Activity) -> bool:
    resource = activity.resource.partition("/")[0]
    return (
        activity.succeeded
        and (activity.verb in WRITE_VERBS or activity.resource in _UPGRADED)
        and resource in WORKLOADS.get(activity.api_group, frozenset())
    )


_PREDICATES: Mapping[RuleKind, Predicate] = {
    RuleKind.GUARDRAIL_DENIAL: _guardrail_denial,
    RuleKind.FORBIDDEN_BURST: _forbidden,
    RuleKind.SECRET_BURST: _secret_read,
    RuleKind.DELETE_BURST: _delete,
    RuleKind.PRIVILEGED_EXEC: _privileged_exec,
    RuleKind.EPHEMERAL_CONTAINER: _ephemeral_container,
    RuleKind.OUTSIDE_NAMESPACES: _outside_namespaces,
    RuleKind.EVENT_DELETION: _event_deletion,
}
COUNTED_KINDS = frozenset(_PREDICATES)  # the kinds that count events in a window (the others have their own logic)


def counts(rule: AlertRule, activity: Activity, grant: GrantFacts) -> bool:
    """Whether ``activity`` counts towards a rule of a counting kind."""
    return _PREDICATES[rule.kind](rule, activity, grant)


def counting_key(rule: AlertRule, activity: Activity) -> str | None:
    """What makes two counted events one: the Secret for secret-burst (a list or watch counts as one read of all
    the namespace's Secrets); None for the other kinds, where every event counts."""
    if rule.kind is RuleKind.SECRET_BURST:
        return f"{activity.namespace}/{activity.name or '*'}"
    return None
