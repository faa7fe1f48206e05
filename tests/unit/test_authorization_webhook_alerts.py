"""The authorization webhook's decisions reach the alert rules (``on_decision``): a guardrail's denial under the
grant whose guardrail refused it, a grant holder's refusal under each of their grants, marked ``source: webhook``;
allowed reviews and people without grants are not handed over, and nothing of it is written to the audit chain
but the alert it raises."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubejit.domain.anomalies import RuleKind, rule_with_defaults
from kubejit.domain.audit import AuditEvent, AuditKind
from kubejit.services.anomaly_watch import AnomalyWatch
from tests.unit.fakes import RecordingNotifier
from tests.unit.test_authorization_webhook import World, grant


def world_with_two_ops_grants() -> tuple[World, list[AuditEvent]]:
    world = World(
        grant("req-1", "payments-ops"),
        grant("req-2", "payments-ops", namespaces=("payments-eu",)),
    )
    handed: list[AuditEvent] = []
    world.webhook.on_decision = handed.extend
    return world, handed


def test_a_guardrail_denial_is_handed_over_under_the_grant_whose_guardrail_refused() -> None:
    world, handed = world_with_two_ops_grants()
    denied = world.ask(verb="delete", resource="configmaps", name="keep-me", namespace="payments-eu")
    assert denied["denied"] is True
    assert [(e.kind, e.actor, e.request_id, e.seq) for e in handed] == [("activity.refused", "alice", "req-2", 0)]
    data = handed[0].data
    assert (data["source"], data["guardrail"], data["profile"], data["status"]) == (
        "webhook",
        "careful.deny[0]",
        "payments-ops",
        403,
    )
    assert (data["verb"], data["resource"], data["namespace"], data["name"]) == (
        "delete",
        "configmaps",
        "payments-eu",
        "keep-me",
    )


def test_a_grant_holders_refusal_is_handed_over_under_each_grant_and_nothing_else_is() -> None:
    world, handed = world_with_two_ops_grants()
    outside = world.ask(namespace="elsewhere")
    assert "denied" not in outside
    assert sorted(e.request_id for e in handed) == ["req-1", "req-2"]
    assert {(e.data["guardrail"], e.data["decision"], e.data["status"]) for e in handed} == {("", "no-opinion", 0)}
    handed.clear()
    assert world.ask()["allowed"] is True  # allowed: not handed over
    assert world.ask("carol")["allowed"] is False  # no grant: nobody's anomaly
    assert handed == []


def test_a_failing_hook_does_not_change_the_answer() -> None:
    world, _handed = world_with_two_ops_grants()

    def broken(_events: Any) -> None:
        raise RuntimeError("alerts down")

    world.webhook.on_decision = broken
    assert world.ask(verb="delete", resource="configmaps", name="keep-me")["denied"] is True


def test_the_watch_raises_alerts_on_webhook_decisions_without_recording_them() -> None:
    world, _handed = world_with_two_ops_grants()
    notifier = RecordingNotifier()
    rules = (
        rule_with_defaults("webhook-guardrail", RuleKind.GUARDRAIL_DENIAL),
        rule_with_defaults("stray", RuleKind.OUTSIDE_NAMESPACES, threshold=2),
    )
    current = replace(world.policy, alerts=rules)
    watch = AnomalyWatch(lambda: current, world.store, world.clock, notifier, lambda _grant, _reason: None)
    world.webhook.on_decision = watch.observe
    world.ask(verb="delete", resource="configmaps", name="keep-me")
    world.ask(namespace="elsewhere")
    world.ask(namespace="elsewhere")
    alerts = [e for e in world.store.db.audit if e.kind == AuditKind.ALERT_RAISED]
    assert sorted((e.data["rule"], e.request_id) for e in alerts) == [
        ("stray", "req-1"),
        ("stray", "req-2"),
        ("webhook-guardrail", "req-1"),
    ]
    evidence = next(e for e in alerts if e.data["rule"] == "webhook-guardrail").data["evidence"]
    assert evidence[0]["source"] == "webhook"
    assert evidence[0]["guardrail"] == "careful.deny[0]"
    assert "seq" not in evidence[0]  # not recorded: the alert's own event holds the facts
    assert not [e for e in world.store.db.audit if str(e.kind).startswith("activity.")]
    assert [n.event for n in notifier.sent] == ["alert.raised"] * 3
