"""The broker's and the gateway's metrics: collectors read plain values, observations land with bounded labels, and
the keeper, the checkpointer and the notifier report what the metrics need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from kubejit.adapters.metrics import BrokerMetrics, GatewayMetrics, GatewayView, KeeperView
from kubejit.domain.audit import AuditEvent
from kubejit.domain.workflow import State
from kubejit.entrypoints.gateway._monitoring import Monitoring
from kubejit.services.audit import AuditService, Checkpointer
from kubejit.services.reconciler import GrantReconciler
from tests.unit.fakes import FakeClock, FakeCluster, FakeLeader, FakeStore, MemoryCheckpoints, RecordingNotifier
from tests.unit.policies import ALICE, BOB, policy, profile

POLICY = policy(profile())


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def keeper_view(**overrides: object) -> KeeperView:
    fields: dict[str, object] = {
        "activated": lambda: 3,
        "expired": lambda: 2,
        "swept": lambda: 1,
        "failures": lambda: 0,
        "last_expiry_lag": lambda: 0.25,
        "is_leader": lambda: True,
        "unrecognized": lambda: 0,
        "refused": lambda: 0,
        "pending_by_profile": lambda: {"debug": 2, "ops": 1},
        "active_by_profile": lambda: {"debug": 1},
        "last_pass": lambda: 1_700_000_000.0,
        "chain_ok": lambda: True,
        "last_checkpoint": lambda: 1_700_000_001.0,
    }
    fields.update(overrides)
    return KeeperView(**fields)  # type: ignore[arg-type]


# ---- the broker's collector ----------------------------------------------------------------------------------


def test_the_keeper_collector_reports_counts_gauges_by_profile_and_the_chain() -> None:
    registry = BrokerMetrics(keeper_view()).registry
    assert value(registry, "kubejit_grants_activated_total") == 3
    assert value(registry, "kubejit_pending_requests", profile="debug") == 2
    assert value(registry, "kubejit_pending_requests", profile="ops") == 1
    assert value(registry, "kubejit_active_grants", profile="debug") == 1
    assert value(registry, "kubejit_keeper_last_pass_timestamp_seconds") == 1_700_000_000.0
    assert value(registry, "kubejit_audit_chain_ok") == 1
    assert value(registry, "kubejit_audit_chain_checked_timestamp_seconds") == 1_700_000_001.0
    assert value(registry, "kubejit_leader") == 1


def test_a_standby_exports_no_store_gauges_and_an_unknown_chain_is_not_exported() -> None:
    registry = BrokerMetrics(
        keeper_view(is_leader=lambda: False, chain_ok=lambda: None, last_pass=lambda: None)
    ).registry
    assert value(registry, "kubejit_leader") == 0
    assert value(registry, "kubejit_pending_requests", profile="debug") is None
    assert value(registry, "kubejit_audit_chain_ok") is None
    assert value(registry, "kubejit_keeper_last_pass_timestamp_seconds") is None


def test_a_broken_chain_reads_zero() -> None:
    registry = BrokerMetrics(keeper_view(chain_ok=lambda: False)).registry
    assert value(registry, "kubejit_audit_chain_ok") == 0


def test_a_scrape_reads_the_views_only_and_stays_cheap() -> None:
    """A scrape costs attribute reads: 1,000 scrapes of a broker with 200 profiles well under a second."""
    import time

    counts = {f"profile-{n}": n for n in range(200)}
    metrics = BrokerMetrics(keeper_view(pending_by_profile=lambda: counts, active_by_profile=lambda: counts))
    from prometheus_client import generate_latest

    started = time.perf_counter()
    for _ in range(100):
        generate_latest(metrics.registry)
    per_scrape = (time.perf_counter() - started) / 100
    assert per_scrape < 0.05, f"a scrape took {per_scrape * 1000:.1f} ms"


# ---- the broker's observations -------------------------------------------------------------------------------


def broker_metrics() -> BrokerMetrics:
    return BrokerMetrics(
        profiles=lambda: {"debug", "ops"},
        guardrails=lambda: {"no-destructive"},
        alert_rules=lambda: {"secret-burst"},
        targets={"https://hooks.example"},
    )


def test_labels_outside_the_policy_become_other() -> None:
    metrics = broker_metrics()
    metrics.approved_after("debug", 42.0)
    metrics.approved_after("alice@example.com", 1.0)  # never a label value of its own
    metrics.expired_late("ops", 0.2)
    registry = metrics.registry
    assert value(registry, "kubejit_time_to_approve_seconds_count", profile="debug") == 1
    assert value(registry, "kubejit_time_to_approve_seconds_sum", profile="debug") == 42.0
    assert value(registry, "kubejit_time_to_approve_seconds_count", profile="other") == 1
    assert value(registry, "kubejit_time_to_approve_seconds_count", profile="alice@example.com") is None
    assert value(registry, "kubejit_expiry_lag_seconds_bucket", profile="ops", le="0.25") == 1


def test_gateway_activity_counts_guardrail_refusals_only() -> None:
    metrics = broker_metrics()
    recorded = [
        ("activity.refused", {"profile": "debug", "guardrail": "no-destructive.deny[0]"}),
        ("activity.refused", {"reason": "no grant"}),  # not a guardrail's
        ("activity.request", {"profile": "debug", "guardrail": "no-destructive.deny[0]"}),
        ("activity.refused", {"profile": "made-up", "guardrail": "planted.deny[0]"}),
    ]
    metrics.activity_recorded(
        [
            AuditEvent(seq, datetime(2026, 12, 1, tzinfo=UTC), kind, "alice", "req-1", data)
            for seq, (kind, data) in enumerate(recorded, start=1)
        ]
    )
    registry = metrics.registry
    labels = {"profile": "debug", "guardrail": "no-destructive", "source": "gateway"}
    assert value(registry, "kubejit_guardrail_denials_total", **labels) == 1
    assert value(registry, "kubejit_guardrail_denials_total", profile="other", guardrail="other", source="gateway") == 1


def test_alerts_and_deliveries() -> None:
    metrics = broker_metrics()
    metrics.alert_raised("secret-burst")
    metrics.alert_raised("secret-burst")
    metrics.alert_raised("grant-1234")  # not a rule's name
    metrics.delivery_attempted("https://hooks.example", "retry", 0.3)
    metrics.delivery_attempted("https://hooks.example", "delivered", 0.1)
    metrics.delivery_failed("https://hooks.example")
    registry = metrics.registry
    assert value(registry, "kubejit_alerts_total", rule="secret-burst") == 2
    assert value(registry, "kubejit_alerts_total", rule="other") == 1
    target = "https://hooks.example"
    assert value(registry, "kubejit_notification_deliveries_total", target=target, outcome="delivered") == 1
    assert value(registry, "kubejit_notification_deliveries_total", target=target, outcome="failed") == 1
    assert value(registry, "kubejit_notification_delivery_duration_seconds_count", target=target) == 2


# ---- the keeper and the checkpointer report what the metrics read -----------------------------------------------


class Observed:
    def __init__(self) -> None:
        self.approvals: list[tuple[str, float]] = []
        self.lags: list[tuple[str, float]] = []

    def approved_after(self, profile: str, seconds: float) -> None:
        self.approvals.append((profile, seconds))

    def expired_late(self, profile: str, seconds: float) -> None:
        self.lags.append((profile, seconds))


def test_the_keeper_observes_time_to_approve_expiry_lag_and_counts_by_profile() -> None:
    from kubejit.services.access import AccessService

    store, clock, observed = FakeStore(), FakeClock(), Observed()
    access = AccessService(lambda: POLICY, store, clock, RecordingNotifier())
    keeper = GrantReconciler(
        lambda: POLICY, store, FakeCluster(), clock, FakeLeader(), RecordingNotifier(), observer=observed
    )
    submitted = access.submit(
        ALICE, profile="payments-debug", namespaces=("payments",), duration=timedelta(minutes=5), reason="INC-1"
    )
    keeper.time_out_pending()
    assert keeper.stats.pending_by_profile == {"payments-debug": 1}
    clock.advance(seconds=90)
    access.approve(BOB, submitted.id, "ok")
    keeper.time_out_pending()
    assert keeper.stats.pending_by_profile == {}
    assert keeper.activate_approved() == 1
    assert observed.approvals == [("payments-debug", 90.0)]
    keeper.refuse_untrusted()
    assert keeper.stats.active_by_profile == {"payments-debug": 1}
    clock.advance(minutes=5, seconds=2)
    assert keeper.expire_due() == 1
    assert observed.lags == [("payments-debug", 2.0)]
    keeper.refuse_untrusted()
    assert keeper.stats.active_by_profile == {}
    assert store.db.requests[submitted.id].request.state is State.EXPIRED


def test_the_checkpointer_records_its_verdict_on_the_chain() -> None:
    from kubejit.services.access import AccessService

    store, clock = FakeStore(), FakeClock()
    access = AccessService(lambda: POLICY, store, clock, RecordingNotifier())
    audit = AuditService(lambda: POLICY, store, clock, MemoryCheckpoints())
    checkpointer = Checkpointer(audit, FakeLeader())
    assert checkpointer.chain_ok is None
    access.submit(ALICE, profile="payments-debug", namespaces=("payments",), duration=None, reason="INC-1")
    checkpointer.flush()
    assert checkpointer.chain_ok is True
    assert checkpointer.checked_at == clock.now()
    del store.db.audit[:]  # the whole trail, checkpointed event included, removed
    access.submit(ALICE, profile="payments-debug", namespaces=("payments",), duration=None, reason="INC-2")
    checkpointer.flush()
    assert checkpointer.chain_ok is False


def test_without_a_checkpoint_store_the_chain_has_no_verdict() -> None:
    store, clock = FakeStore(), FakeClock()
    checkpointer = Checkpointer(AuditService(lambda: POLICY, store, clock), FakeLeader())
    checkpointer.flush()
    assert checkpointer.chain_ok is None


# ---- the gateway ----------------------------------------------------------------------------------------------


def gateway_view(**overrides: object) -> GatewayView:
    fields: dict[str, object] = {
        "book_age": lambda: 0.4,
        "book_fresh": lambda: True,
        "grants": lambda: 2,
        "open_streams": lambda: 1,
        "activity_queued": lambda: 5,
        "activity_oldest": lambda: 0.3,
        "activity_delivered": lambda: 100,
        "activity_dropped": lambda: 1,
        "activity_failed_batches": lambda: 2,
    }
    fields.update(overrides)
    return GatewayView(**fields)  # type: ignore[arg-type]


def test_the_gateway_collector_reads_the_book_and_the_link() -> None:
    registry = GatewayMetrics(gateway_view()).registry
    assert value(registry, "kubejit_gateway_grant_book_age_seconds") == 0.4
    assert value(registry, "kubejit_gateway_grant_book_fresh") == 1
    assert value(registry, "kubejit_gateway_activity_queued") == 5
    assert value(registry, "kubejit_gateway_activity_failed_batches_total") == 2
    assert value(registry, "kubejit_gateway_activity_dropped_total") == 1
    stale = GatewayMetrics(gateway_view(book_age=lambda: None, book_fresh=lambda: False)).registry
    assert value(stale, "kubejit_gateway_grant_book_age_seconds") is None
    assert value(stale, "kubejit_gateway_grant_book_fresh") == 0


@pytest.mark.parametrize(
    ("verb", "resource", "subresource", "group", "is_resource", "expected"),
    [
        ("get", "secrets", "", "", True, "secrets"),
        ("create", "pods", "exec", "", True, "streaming"),
        ("list", "pods", "", "", True, "pods"),
        ("patch", "deployments", "", "apps", True, "workloads"),
        ("create", "rolebindings", "", "rbac.authorization.k8s.io", True, "rbac"),
        ("get", "configmaps", "", "", True, "core"),
        ("get", "widgets", "", "example.com", True, "other"),
        ("get", None, None, None, False, "nonresource"),
    ],
)
def test_request_latency_is_labelled_by_a_bounded_resource_class(
    verb: str, resource: str | None, subresource: str | None, group: str | None, is_resource: bool, expected: str
) -> None:
    metrics = GatewayMetrics()
    metrics.request_served(
        verb=verb,
        resource=resource,
        subresource=subresource,
        api_group=group,
        is_resource=is_resource,
        status=200,
        seconds=0.01,
    )
    labels = {"verb": verb, "resource_class": expected, "code": "2xx"}
    assert value(metrics.registry, "kubejit_gateway_request_duration_seconds_count", **labels) == 1


def test_gateway_observations_bound_their_labels() -> None:
    metrics = GatewayMetrics(profiles=lambda: {"debug"}, guardrails=lambda: {"no-destructive"})
    metrics.request_served(
        verb="frobnicate", resource="x", subresource="", api_group="", is_resource=True, status=999, seconds=1
    )
    metrics.upstream_error("unreachable")
    metrics.upstream_error("something new")
    metrics.session_opened("exec")
    metrics.session_opened("exec")
    metrics.session_closed("exec")
    metrics.guardrail_denied("debug", "no-destructive.deny[1]")
    metrics.guardrail_denied(None, "")
    registry = metrics.registry
    labels = {"verb": "other", "resource_class": "core", "code": "other"}
    assert value(registry, "kubejit_gateway_request_duration_seconds_count", **labels) == 1
    assert value(registry, "kubejit_gateway_upstream_errors_total", kind="unreachable") == 1
    assert value(registry, "kubejit_gateway_upstream_errors_total", kind="other") == 1
    assert value(registry, "kubejit_gateway_upstream_errors_total", kind="mid-response") == 0  # exported from start
    assert value(registry, "kubejit_gateway_open_sessions", kind="exec") == 1
    labels = {"profile": "debug", "guardrail": "no-destructive"}
    assert value(registry, "kubejit_gateway_guardrail_denials_total", **labels) == 1
    assert value(registry, "kubejit_gateway_guardrail_denials_total", profile="unknown", guardrail="unknown") == 1


def test_the_monitoring_listener_answers_three_paths() -> None:
    ready = {"now": (False, "not ready: the broker has not been heard from within maxStaleness")}
    monitoring = Monitoring(GatewayMetrics(gateway_view()).registry, lambda: ready["now"])
    status, kind, body = monitoring.answer("GET", "/metrics")
    assert status == 200
    assert kind.startswith("text/plain")
    assert b"kubejit_gateway_grant_book_fresh 1.0" in body
    assert monitoring.answer("GET", "/healthz")[0] == 200
    assert monitoring.answer("GET", "/readyz")[:1] == (503,)
    ready["now"] = (True, "ready")
    assert monitoring.answer("GET", "/readyz")[0] == 200
    assert monitoring.answer("POST", "/metrics")[0] == 405
    assert monitoring.answer("GET", "/api/v1/namespaces")[0] == 404  # never a way into the cluster
