"""The notifier reports every delivery attempt (target label, outcome, duration) to the broker's metrics, against a
real HTTP receiver on loopback."""

from __future__ import annotations

from kubejit.adapters.metrics import BrokerMetrics
from kubejit.adapters.notify import WebhookNotifier, WebhookTarget
from tests.integration.test_webhook_notifier import FAST, Receiver
from tests.unit.test_webhook_delivery import notification


def test_each_attempt_and_each_loss_is_counted_by_target_and_outcome() -> None:
    metrics = BrokerMetrics()
    with Receiver([503, 200, 400]) as receiver:
        target = WebhookTarget(receiver.url)
        with WebhookNotifier(
            [target],
            on_failure=lambda _n, t, _r: metrics.delivery_failed(t.label),
            on_attempt=metrics.delivery_attempted,
            **FAST,
        ) as notifier:
            notifier.notify(notification())
            notifier.notify(notification())
    registry, label = metrics.registry, target.label
    assert "s3cr3t" not in label
    assert "hooks" not in label
    for outcome, count in (("retry", 1), ("delivered", 1), ("permanent", 1), ("failed", 1)):
        got = registry.get_sample_value("kubejit_notification_deliveries_total", {"target": label, "outcome": outcome})
        assert got == count, outcome
    seconds = registry.get_sample_value("kubejit_notification_delivery_duration_seconds_count", {"target": label})
    assert seconds == 3
