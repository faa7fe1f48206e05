"""The gateway's metrics registry: request latency, upstream errors, open sessions, guardrail denials, and (read
at scrape time) how fresh its grant book is and how its activity delivery keeps up.

Why it exists: the gateway is where requests are served and refused, so its latency, its errors against
kube-apiserver and its link to the broker are measured there. The proxy (``entrypoints/gateway/proxy.py``)
calls the methods here, with label values bounded by ``_labels``; the numbers the grant book, the open-stream
registry and the broker link already hold are read by a collector when Prometheus scrapes, through a
:class:`GatewayView` that ``entrypoints/gateway/main.py`` builds. The separate metrics listener
(``entrypoints/gateway/_monitoring.py``) serves :attr:`GatewayMetrics.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubejit.adapters.metrics._labels import bounded, guardrail_of, resource_class, status_class, verb_label

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UPSTREAM_ERRORS = ("unreachable", "mid-response", "upgrade")
SESSION_KINDS = ("exec", "attach", "portforward")


@dataclass(frozen=True)
class GatewayView:
    """What the collector reads at scrape time (all cheap: lengths and timestamps)."""

    book_age: Callable[[], float | None]  # seconds since the broker was last heard from; None: never
    book_fresh: Callable[[], bool]
    grants: Callable[[], int]  # active grants in the book
    open_streams: Callable[[], int]  # registered streams: watches and other long responses, and upgrades
    activity_queued: Callable[[], int]
    activity_oldest: Callable[[], float]  # seconds the oldest undelivered event has waited (0 when none)
    activity_delivered: Callable[[], int]
    activity_dropped: Callable[[], int]
    activity_failed_batches: Callable[[], int]


class _GatewayCollector(Collector):
    def __init__(self, view: GatewayView) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        v = self._view
        age = v.book_age()
        if age is not None:
            yield GaugeMetricFamily(
                "kubejit_gateway_grant_book_age_seconds", "Seconds since the gateway last heard from the broker.", age
            )
        yield GaugeMetricFamily(
            "kubejit_gateway_grant_book_fresh",
            "1 while the grant book is fresh (heard from the broker within maxStaleness); 0: every request refused.",
            1.0 if v.book_fresh() else 0.0,
        )
        yield GaugeMetricFamily("kubejit_gateway_grants", "Active grants in the gateway's book.", v.grants())
        yield GaugeMetricFamily(
            "kubejit_gateway_open_streams",
            "Open streams registered with their grant (watches, upgrades).",
            v.open_streams(),
        )
        yield GaugeMetricFamily(
            "kubejit_gateway_activity_queued",
            "Activity events recorded but not yet delivered to the broker.",
            v.activity_queued(),
        )
        yield GaugeMetricFamily(
            "kubejit_gateway_activity_oldest_seconds",
            "How long the oldest undelivered activity event has waited (a fail-closed gateway refuses at maxDelay).",
            v.activity_oldest(),
        )
        yield CounterMetricFamily(
            "kubejit_gateway_activity_delivered", "Activity events the broker accepted.", v.activity_delivered()
        )
        yield CounterMetricFamily(
            "kubejit_gateway_activity_dropped",
            "Activity events the broker refused one by one (dropped).",
            v.activity_dropped(),
        )
        yield CounterMetricFamily(
            "kubejit_gateway_activity_failed_batches",
            "Activity batches that could not be delivered (broker unreachable or answering an error).",
            v.activity_failed_batches(),
        )


class GatewayMetrics:
    """The gateway's registry. ``profiles``/``guardrails`` name the label values allowed (the gateway's policy)."""

    def __init__(
        self,
        view: GatewayView | None = None,
        *,
        profiles: Callable[[], Collection[str]] = lambda: (),
        guardrails: Callable[[], Collection[str]] = lambda: (),
    ) -> None:
        self.registry = CollectorRegistry()
        self._profiles, self._guardrails = profiles, guardrails
        self._latency = Histogram(
            "kubejit_gateway_request_duration_seconds",
            "Requests served by the gateway, from their head read to their end (refusals included; an upgraded "
            "session counts its whole length), by verb, resource class and status class.",
            ["verb", "resource_class", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._upstream = Counter(
            "kubejit_gateway_upstream_errors",
            "Failures talking to kube-apiserver: unreachable (no connection or no answer: a 502), mid-response "
            "(the response broke off), upgrade (an exec/attach/port-forward could not be opened).",
            ["kind"],
            registry=self.registry,
        )
        self._sessions = Gauge(
            "kubejit_gateway_open_sessions",
            "Open upgraded sessions (exec, attach, port-forward).",
            ["kind"],
            registry=self.registry,
        )
        self._denials = Counter(
            "kubejit_gateway_guardrail_denials",
            "Requests the gateway refused by a guardrail, by profile and guardrail.",
            ["profile", "guardrail"],
            registry=self.registry,
        )
        for kind in UPSTREAM_ERRORS:
            self._upstream.labels(kind)  # exported at 0 from the start: rate() and alerts see the series
        for kind in SESSION_KINDS:
            self._sessions.labels(kind)
        if view is not None:
            self.registry.register(_GatewayCollector(view))

    def request_served(
        self,
        *,
        verb: str | None,
        resource: str | None,
        subresource: str | None,
        api_group: str | None,
        is_resource: bool,
        status: int,
        seconds: float,
    ) -> None:
        kind = resource_class(resource=resource, subresource=subresource, api_group=api_group, is_resource=is_resource)
        self._latency.labels(verb_label(verb), kind, status_class(status)).observe(max(seconds, 0.0))

    def upstream_error(self, kind: str) -> None:
        self._upstream.labels(bounded(kind, UPSTREAM_ERRORS)).inc()

    def session_opened(self, kind: str | None) -> None:
        self._sessions.labels(bounded(kind, SESSION_KINDS)).inc()

    def session_closed(self, kind: str | None) -> None:
        self._sessions.labels(bounded(kind, SESSION_KINDS)).dec()

    def guardrail_denied(self, profile: str | None, rule: str) -> None:
        guardrail = bounded(guardrail_of(rule), self._guardrails()) if rule else "unknown"
        self._denials.labels(bounded(profile, self._profiles()), guardrail).inc()
