"""The broker's metrics registry, and the methods the rest of the broker calls to observe what it did.

Why it exists: one object owns the broker's ``/metrics`` (served by ``entrypoints/api/routes/health.py``) and
every event the broker counts goes through a named method here, so label sets stay bounded in one place
(profiles and guardrails named in the policy, webhook targets from the config, rule names; never users or
request ids). ``kubejit.bootstrap`` builds it and hands its methods to the services as plain callbacks (the
keeper's observer, the gateway feed's activity hook, the authorization webhook's denials, the notifier's
delivery hook); the anomaly alerts call :meth:`BrokerMetrics.alert_raised`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from kubejit.adapters.metrics._keeper import KeeperCollector, KeeperView
from kubejit.adapters.metrics._labels import bounded, guardrail_of
from kubejit.domain.audit import AuditEvent, AuditKind

# Submitted -> approved: seconds (auto-approval) to a day (a request that waited overnight).
APPROVAL_BUCKETS = (1.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0)
# The grant's end time -> its bindings gone: the keeper aims at well under a second.
EXPIRY_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _no_names() -> Collection[str]:
    return ()


class BrokerMetrics:
    """The broker's registry. ``profiles``/``guardrails``/``alert_rules`` name the label values allowed (read at
    each observation, so a policy reload is followed); anything else is counted as ``other``."""

    def __init__(
        self,
        keeper: KeeperView | None = None,
        *,
        profiles: Callable[[], Collection[str]] = _no_names,
        guardrails: Callable[[], Collection[str]] = _no_names,
        alert_rules: Callable[[], Collection[str]] | None = None,
        targets: Collection[str] = (),
    ) -> None:
        self.registry = CollectorRegistry()
        self._profiles, self._guardrails, self._alert_rules = profiles, guardrails, alert_rules
        self._targets = frozenset(targets)
        registry = self.registry
        self._operations = Counter(
            "kubejit_operations", "Workflow operations by outcome.", ["operation", "outcome"], registry=registry
        )
        self._errors = Counter("kubejit_api_errors", "API errors by kind.", ["kind"], registry=registry)
        self._approval = Histogram(
            "kubejit_time_to_approve_seconds",
            "From a request's submission to its approval, observed when the keeper activates the grant.",
            ["profile"],
            buckets=APPROVAL_BUCKETS,
            registry=registry,
        )
        self._expiry_lag = Histogram(
            "kubejit_expiry_lag_seconds",
            "From a grant's end time to the keeper having removed its bindings and ended it.",
            ["profile"],
            buckets=EXPIRY_LAG_BUCKETS,
            registry=registry,
        )
        self._denials = Counter(
            "kubejit_guardrail_denials",
            "Requests refused by a guardrail: reported by gateways' activity (source=gateway) or decided by the "
            "authorization webhook (source=webhook).",
            ["profile", "guardrail", "source"],
            registry=registry,
        )
        self._alerts = Counter("kubejit_alerts", "Anomaly alerts raised, by rule.", ["rule"], registry=registry)
        self._deliveries = Counter(
            "kubejit_notification_deliveries",
            "Webhook delivery attempts by target and outcome (delivered, retry, permanent), and notifications "
            "given up on (failed).",
            ["target", "outcome"],
            registry=registry,
        )
        self._delivery_time = Histogram(
            "kubejit_notification_delivery_duration_seconds",
            "How long one webhook delivery attempt took, by target.",
            ["target"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        if keeper is not None:
            self.watch_keeper(keeper)

    def watch_keeper(self, keeper: KeeperView) -> None:
        """Report the keeper's, the leader's and the audit chain's state at scrape time (once per registry)."""
        self.registry.register(KeeperCollector(keeper))

    # ---- the API ------------------------------------------------------------------------------------------------

    def operation(self, operation: str, outcome: str) -> None:
        self._operations.labels(operation, outcome).inc()

    def api_error(self, kind: str) -> None:
        self._errors.labels(kind).inc()

    # ---- the keeper (services.keeper_stats.KeeperObserver) --------------------------------------------------------

    def approved_after(self, profile: str, seconds: float) -> None:
        self._approval.labels(self._profile(profile)).observe(max(seconds, 0.0))

    def expired_late(self, profile: str, seconds: float) -> None:
        self._expiry_lag.labels(self._profile(profile)).observe(max(seconds, 0.0))

    # ---- guardrail denials ------------------------------------------------------------------------------------------

    def guardrail_denied(self, profile: str | None, rule: str, source: str) -> None:
        """One request refused by a guardrail; ``rule`` as the decision names it (``guard.deny[0]``) or the name."""
        guardrail = bounded(guardrail_of(rule), self._guardrails()) if rule else "unknown"
        self._denials.labels(self._profile(profile), guardrail, source).inc()

    def activity_recorded(self, events: Sequence[AuditEvent]) -> None:
        """A gateway's activity batch, as recorded: its guardrail refusals are counted (``source=gateway``)."""
        for event in events:
            if event.kind == AuditKind.ACTIVITY_REFUSED and event.data.get("guardrail"):
                self.guardrail_denied(str(event.data.get("profile") or ""), str(event.data["guardrail"]), "gateway")

    # ---- alerts -------------------------------------------------------------------------------------------------

    def alert_raised(self, rule: str) -> None:
        """The hook for anomaly alerts: call once per alert raised, with the rule's name (as the policy names it).

        Counted as ``kubejit_alerts_total{rule}``. With ``alert_rules`` given, a name outside it is counted as
        ``other`` (a label value per alert, a user or a grant would make a time series each)."""
        self._alerts.labels(bounded(rule, self._alert_rules()) if self._alert_rules is not None else rule).inc()

    # ---- notifications ----------------------------------------------------------------------------------------------

    def delivery_attempted(self, target: str, outcome: str, seconds: float) -> None:
        """One webhook attempt (``adapters.notify``'s delivery hook); ``target`` is the target's label."""
        label = bounded(target, self._targets) if self._targets else target
        self._deliveries.labels(label, outcome).inc()
        self._delivery_time.labels(label).observe(max(seconds, 0.0))

    def delivery_failed(self, target: str) -> None:
        """A notification given up on for ``target`` (not delivered, retries spent, dropped or stopped)."""
        self._deliveries.labels(bounded(target, self._targets) if self._targets else target, "failed").inc()

    def _profile(self, profile: str | None) -> str:
        return bounded(profile, self._profiles())
