"""Each alert rule kind on plain values: it fires at its threshold and not below, its window slides, and it counts
only what it is meant to count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubejit.domain.anomalies import (
    DEFAULTS,
    Activity,
    Alert,
    AlertRule,
    Detector,
    GrantFacts,
    RuleKind,
    activity_of,
    rule_with_defaults,
)
from kubejit.domain.audit import AuditEvent, AuditKind

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GRANT = GrantFacts("req-1", "alice", "ops", ("payments",), starts_at=T0)
REQUEST, REFUSED, EXEC, CLOSED = (
    AuditKind.ACTIVITY_REQUEST,
    AuditKind.ACTIVITY_REFUSED,
    AuditKind.ACTIVITY_EXEC,
    AuditKind.ACTIVITY_SESSION_CLOSED,
)


def act(seconds: float, kind: str = REQUEST, **fields: Any) -> Activity:
    base: dict[str, Any] = {"verb": "get", "resource": "pods", "namespace": "payments", "name": "app", "status": 200}
    base.update(fields)
    if "apiGroup" in base:
        base["api_group"] = base.pop("apiGroup")
    return Activity(
        seq=int(seconds * 10) + 1, at=T0 + timedelta(seconds=seconds), kind=kind, grant="req-1", user="alice", **base
    )


def run(rule: AlertRule, activities: list[Activity], grant: GrantFacts = GRANT) -> list[Alert]:
    detector = Detector(started=T0)
    alerts: list[Alert] = []
    for activity in activities:
        alerts.extend(detector.observe([rule], activity, grant))
    return alerts


def rule(kind: RuleKind, **changes: Any) -> AlertRule:
    return rule_with_defaults(None, kind, **changes)


# (kind, an activity that counts, one that does not)
COUNTING: list[tuple[RuleKind, dict[str, Any], dict[str, Any]]] = [
    (
        RuleKind.GUARDRAIL_DENIAL,
        {"kind": REFUSED, "status": 403, "reason": "refused by guardrail no-destructive: no"},
        {"kind": REFUSED, "status": 403, "reason": "grant req-1 (ops) does not allow delete on pods"},
    ),
    (
        # The structured field decides (gateways and the webhook send it): not the wording of the reason.
        RuleKind.GUARDRAIL_DENIAL,
        {"kind": REFUSED, "status": 403, "guardrail": "no-destructive.deny[0]", "reason": "kubejit: refused by ..."},
        {"kind": REFUSED, "status": 403, "guardrail": "", "reason": "refused by guardrail lookalike: not one"},
    ),
    (RuleKind.FORBIDDEN_BURST, {"kind": REFUSED, "status": 403}, {"status": 404}),
    (RuleKind.DELETE_BURST, {"verb": "delete"}, {"verb": "delete", "status": 403}),
    (
        RuleKind.PRIVILEGED_EXEC,
        {"kind": EXEC, "resource": "pods/exec", "namespace": "kube-system"},
        {"kind": EXEC, "resource": "pods/exec", "namespace": "payments"},
    ),
    (
        RuleKind.EPHEMERAL_CONTAINER,
        {"verb": "patch", "resource": "pods/ephemeralcontainers"},
        {"verb": "get", "resource": "pods/ephemeralcontainers"},
    ),
    (
        RuleKind.OUTSIDE_NAMESPACES,
        {"kind": REFUSED, "status": 403, "namespace": "billing"},
        {"kind": REFUSED, "status": 403, "namespace": "payments"},
    ),
    (RuleKind.EVENT_DELETION, {"verb": "delete", "resource": "events"}, {"verb": "delete", "resource": "pods"}),
    (
        RuleKind.EVENT_DELETION,
        {"verb": "deletecollection", "resource": "events", "apiGroup": "events.k8s.io"},
        {"verb": "get", "resource": "events"},
    ),
]


@pytest.mark.parametrize(("kind", "counted", "ignored"), COUNTING, ids=[c[0].value for c in COUNTING])
def test_a_counting_rule_fires_at_its_threshold_and_not_below(
    kind: RuleKind, counted: dict[str, Any], ignored: dict[str, Any]
) -> None:
    three = rule(kind, threshold=3, window=timedelta(minutes=1))
    below = run(three, [act(0, **counted), act(1, **counted), *(act(2 + i, **ignored) for i in range(5))])
    assert below == []
    fired = run(three, [act(0, **counted), act(1, **counted), act(2, **counted)])
    assert len(fired) == 1
    alert = fired[0]
    assert (alert.rule.name, alert.grant.id, alert.user) == (kind.value, "req-1", "alice")
    assert [a.seq for a in alert.evidence] == [1, 11, 21]
    assert "rule " + kind.value in alert.summary


@pytest.mark.parametrize(("kind", "counted", "_ignored"), COUNTING, ids=[c[0].value for c in COUNTING])
def test_a_counting_rule_window_slides(kind: RuleKind, counted: dict[str, Any], _ignored: dict[str, Any]) -> None:
    """Two events, then a third after the first left the window: no alert; a fourth inside: one."""
    three = rule(kind, threshold=3, window=timedelta(seconds=60))
    assert run(three, [act(0, **counted), act(30, **counted), act(60, **counted)]) == []
    fired = run(three, [act(0, **counted), act(30, **counted), act(60, **counted), act(61, **counted)])
    assert [[a.seq for a in alert.evidence] for alert in fired] == [[301, 601, 611]]


def test_after_firing_the_window_starts_again() -> None:
    two = rule(RuleKind.FORBIDDEN_BURST, threshold=2)
    forbidden = {"kind": REFUSED, "status": 403}
    assert len(run(two, [act(i, **forbidden) for i in range(3)])) == 1
    assert len(run(two, [act(i, **forbidden) for i in range(4)])) == 2


def test_the_default_threshold_of_each_kind() -> None:
    assert rule(RuleKind.SECRET_BURST).threshold == 5
    assert rule(RuleKind.FORBIDDEN_BURST).window == timedelta(minutes=5)
    assert rule(RuleKind.PRIVILEGED_EXEC).namespaces == ("kube-system",)
    assert set(DEFAULTS) == set(RuleKind)


def test_a_secret_burst_counts_distinct_secrets() -> None:
    burst = rule(RuleKind.SECRET_BURST, threshold=3, window=timedelta(minutes=2))
    secret = {"resource": "secrets"}
    same = [act(i, **secret, name="db") for i in range(5)]
    assert run(burst, same) == []
    two = [act(0, **secret, name="db"), act(1, **secret, name="api"), act(2, **secret, name="db")]
    assert run(burst, two) == []
    fired = run(burst, [*two, act(3, **secret, verb="list", name="")])  # a list reads the namespace's Secrets
    assert len(fired) == 1
    assert sorted(a.name for a in fired[0].evidence) == ["", "api", "db"]
    assert "3 distinct Secrets read" in fired[0].summary


def test_a_refused_or_failed_secret_read_is_not_a_read() -> None:
    burst = rule(RuleKind.SECRET_BURST, threshold=2)
    assert (
        run(
            burst,
            [
                act(0, resource="secrets", name="a", status=403),
                act(1, resource="secrets", name="b", kind=REFUSED, status=403),
            ],
        )
        == []
    )


def test_privileged_exec_watches_names_too_and_counts_an_exec_once() -> None:
    by_name = rule(RuleKind.PRIVILEGED_EXEC, namespaces=[], names=["etcd-*"])
    start = act(0, EXEC, resource="pods/exec", name="etcd-0", namespace="payments")
    closed = act(5, CLOSED, resource="pods/exec", name="etcd-0", namespace="payments", status=101)
    assert len(run(by_name, [start, closed])) == 1
    attach = act(0, resource="pods/attach", name="etcd-1", namespace="x", status=101)
    assert len(run(by_name, [attach])) == 1
    assert run(by_name, [act(0, EXEC, resource="pods/exec", name="web-0", namespace="kube-system")]) == []


def test_outside_namespaces_needs_a_namespaced_grant() -> None:
    cluster_wide = GrantFacts("req-1", "alice", "admin", ())
    attempt = act(0, REFUSED, status=403, namespace="billing")
    assert run(rule(RuleKind.OUTSIDE_NAMESPACES), [attempt], cluster_wide) == []
    assert len(run(rule(RuleKind.OUTSIDE_NAMESPACES), [attempt])) == 1


def test_rbac_change_then_workload_change_within_the_window() -> None:
    chain = rule(RuleKind.RBAC_THEN_WORKLOAD, window=timedelta(minutes=10))
    binding = act(0, verb="create", apiGroup="rbac.authorization.k8s.io", resource="rolebindings", status=201)
    deploy = act(60, verb="patch", apiGroup="apps", resource="deployments", status=200)
    fired = run(chain, [binding, deploy])
    assert len(fired) == 1
    assert [a.resource for a in fired[0].evidence] == ["rolebindings", "deployments"]
    assert run(chain, [deploy, binding]) == []  # the other order is not the pattern
    late = act(601, verb="patch", apiGroup="apps", resource="deployments", status=200)
    assert run(chain, [binding, late]) == []  # the RBAC change slid out of the window
    refused_binding = act(0, REFUSED, verb="create", apiGroup="rbac.authorization.k8s.io", resource="roles", status=403)
    assert run(chain, [refused_binding, deploy]) == []


@pytest.mark.parametrize("verb", ["create", "get"], ids=["spdy", "websocket"])
@pytest.mark.parametrize("subresource", ["exec", "attach", "portforward"])
def test_an_exec_after_an_rbac_change_counts_whichever_transport_kubectl_used(verb: str, subresource: str) -> None:
    chain = rule(RuleKind.RBAC_THEN_WORKLOAD)
    binding = act(0, verb="create", apiGroup="rbac.authorization.k8s.io", resource="rolebindings", status=201)
    # kubectl opens exec, attach and port-forward with a POST over SPDY or a GET over WebSocket: recorded with the
    # verb create or get; kube-apiserver authorizes both as create.
    stream = act(5, EXEC if subresource == "exec" else REQUEST, verb=verb, resource=f"pods/{subresource}", status=101)
    fired = run(chain, [binding, stream])
    assert [[a.resource for a in alert.evidence] for alert in fired] == [["rolebindings", f"pods/{subresource}"]]
    reading = act(5, verb="get", resource="pods/log", status=200)
    assert run(chain, [binding, reading]) == []  # a read of a pod's subresource is not a workload change


def test_break_glass_fires_once_per_grant_at_its_threshold() -> None:
    glass = GrantFacts("req-1", "alice", "ops", ("payments",), break_glass=True)
    two = rule(RuleKind.BREAK_GLASS, threshold=2)
    assert run(two, [act(0)], glass) == []
    assert len(run(two, [act(i) for i in range(6)], glass)) == 1
    assert run(rule(RuleKind.BREAK_GLASS), [act(i) for i in range(3)]) == []  # not a break-glass grant


def test_idle_grant_fires_on_activity_after_the_quiet_time() -> None:
    idle = rule(RuleKind.IDLE_GRANT, window=timedelta(minutes=30))
    assert run(idle, [act(0), act(29 * 60), act(58 * 60)]) == []  # never quiet for 30m
    fired = run(idle, [act(0), act(30 * 60)])
    assert len(fired) == 1
    assert "after 30m" in fired[0].summary
    assert len(run(idle, [act(30 * 60)])) == 1  # quiet since the grant started
    assert len(run(idle, [act(0), act(30 * 60), act(31 * 60), act(61 * 60)])) == 2  # once per quiet gap


def test_idle_grant_does_not_count_time_before_watching_began() -> None:
    earlier = GrantFacts("req-1", "alice", "ops", ("payments",), starts_at=T0 - timedelta(hours=3))
    assert run(rule(RuleKind.IDLE_GRANT), [act(60)], earlier) == []


def test_rules_limited_to_profiles_skip_other_grants() -> None:
    only_debug = rule(RuleKind.FORBIDDEN_BURST, threshold=1, profiles=["debug"])
    assert run(only_debug, [act(0, REFUSED, status=403)]) == []


def test_the_detector_forgets_the_least_recent_grants_beyond_its_bound() -> None:
    detector = Detector(started=T0, max_grants=2)
    two = rule(RuleKind.FORBIDDEN_BURST, threshold=2)
    grants = [GrantFacts(f"req-{n}", "alice", "ops", ("payments",)) for n in range(3)]
    for grant in grants:
        detector.observe([two], act(0, REFUSED, status=403), grant)
    assert detector.observe([two], act(1, REFUSED, status=403), grants[0]) == []  # req-0's window was forgotten
    assert len(detector.observe([two], act(1, REFUSED, status=403), grants[2])) == 1


def test_an_alert_records_its_rule_user_and_evidence() -> None:
    alert = run(rule(RuleKind.EVENT_DELETION), [act(0, verb="delete", resource="events", name="e1")])[0]
    data = alert.data()
    assert (data["rule"], data["ruleKind"], data["action"], data["user"]) == (
        "event-deletion",
        "event-deletion",
        "notify",
        "alice",
    )
    assert data["evidence"] == [
        {
            "seq": 1,
            "at": T0.isoformat(),
            "kind": "activity.request",
            "verb": "delete",
            "resource": "events",
            "namespace": "payments",
            "name": "e1",
            "status": 200,
        }
    ]


def test_an_activity_reads_the_structured_guardrail_and_its_source() -> None:
    data = {"verb": "delete", "resource": "configmaps", "status": 403, "guardrail": "keep.deny[1]", "source": "webhook"}
    structured = activity_of(AuditEvent(7, T0, REFUSED, "alice", "req-1", data))
    assert structured is not None
    assert (structured.guardrail, structured.source) == ("keep.deny[1]", "webhook")
    assert structured.evidence()["guardrail"] == "keep.deny[1]"
    assert structured.evidence()["source"] == "webhook"
    older = activity_of(AuditEvent(8, T0, REFUSED, "alice", "req-1", {"reason": "refused by guardrail keep: no"}))
    assert older is not None
    assert (older.guardrail, older.source) == (None, "gateway")  # an older gateway's record: the wording decides
    assert "source" not in older.evidence()
    assert len(run(rule(RuleKind.GUARDRAIL_DENIAL), [older])) == 1


# ---- sessions: a stream recorded at its start and at its end is one request -----------------------------------


@pytest.mark.parametrize(("kind", "counted", "_ignored"), COUNTING, ids=[c[0].value for c in COUNTING])
def test_a_sessions_end_record_is_not_counted_again(
    kind: RuleKind, counted: dict[str, Any], _ignored: dict[str, Any]
) -> None:
    """Every counting kind: a start and its end count one, two starts count two."""
    two = rule(kind, threshold=2, window=timedelta(minutes=1))
    assert run(two, [act(0, **counted, phase="start"), act(1, **counted, phase="end")]) == []
    assert len(run(two, [act(0, **counted, phase="start"), act(1, **counted, phase="start")])) == 1


def test_a_watch_of_secrets_counts_one_read_even_when_its_end_comes_after_the_window() -> None:
    """A watch of a namespace's Secrets is one read of them all, at its start; its end, minutes later (after the
    start left the window), is not a second read that could make a burst with the next one."""
    two = rule(RuleKind.SECRET_BURST, threshold=2, window=timedelta(minutes=2))
    watch = {"resource": "secrets", "verb": "watch", "name": ""}
    started, ended = act(0, **watch, phase="start"), act(150, **watch, phase="end")
    assert run(two, [started, ended, act(151, resource="secrets", name="db")]) == []
    assert len(run(two, [started, act(1, resource="secrets", name="db")])) == 1  # the start itself counts
    old_gateway = act(150, **watch)  # recorded at its end only (no phase): counted then, as before
    assert len(run(two, [old_gateway, act(151, resource="secrets", name="db")])) == 1


def test_a_port_forward_after_an_rbac_change_counts_at_its_start_only() -> None:
    then = rule(RuleKind.RBAC_THEN_WORKLOAD)
    rbac = act(0, verb="create", resource="rolebindings", apiGroup="rbac.authorization.k8s.io", status=201)
    forward = {"verb": "create", "resource": "pods/portforward", "status": 101}
    fired = run(then, [rbac, act(1, **forward, phase="start"), act(2, **forward, phase="end")])
    assert [[a.seq for a in alert.evidence] for alert in fired] == [[1, 11]]


def test_a_long_session_is_use_of_the_grant_until_it_ends() -> None:
    """idle-grant: a watch held for 40 minutes ends without an alert (its end is not a new use), and a request
    right after is not activity after a quiet time (the stream was in use until then)."""
    idle = rule(RuleKind.IDLE_GRANT, window=timedelta(minutes=30))
    watch = {"verb": "watch", "name": ""}
    assert run(idle, [act(0, **watch, phase="start"), act(40 * 60, **watch, phase="end"), act(41 * 60)]) == []
