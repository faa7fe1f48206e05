"""Prometheus metrics of the broker: what it did, how late grants ended, who leads.

Counters are bumped by the API; the keeper's and leader's state is read at scrape time by a collector,
so the hot paths do no metrics work of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class KeeperView:
    """Read-only numbers the collector reports at scrape time."""

    activated: Callable[[], int]
    expired: Callable[[], int]
    swept: Callable[[], int]
    failures: Callable[[], int]
    last_expiry_lag: Callable[[], float]
    is_leader: Callable[[], bool]
    unrecognized: Callable[[], int]  # bindings labelled as this installation's that were no grant's: removed
    refused: Callable[[], int]  # request rows the keeper would not honour as grants (no valid seal, or policy says no)


class _KeeperCollector(Collector):
    def __init__(self, view: KeeperView) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        v = self._view
        yield CounterMetricFamily("kubejit_grants_activated", "Grants materialized in the cluster.", v.activated())
        yield CounterMetricFamily("kubejit_grants_expired", "Grants ended on time by the keeper.", v.expired())
        yield CounterMetricFamily("kubejit_bindings_swept", "Bindings removed by the sweep.", v.swept())
        yield CounterMetricFamily(
            "kubejit_bindings_unrecognized",
            "Bindings with this installation's labels but no grant of their own, removed by the sweep.",
            v.unrecognized(),
        )
        yield CounterMetricFamily(
            "kubejit_grants_refused",
            "Request rows not honoured as grants: no valid seal by the broker's key, or off-policy.",
            v.refused(),
        )
        yield CounterMetricFamily("kubejit_keeper_failures", "Keeper passes or actions that failed.", v.failures())
        yield GaugeMetricFamily(
            "kubejit_last_expiry_lag_seconds", "How late the last grant's bindings were removed.", v.last_expiry_lag()
        )
        yield GaugeMetricFamily("kubejit_leader", "1 when this replica holds the lease.", 1.0 if v.is_leader() else 0.0)


class BrokerMetrics:
    def __init__(self, keeper: KeeperView | None = None) -> None:
        self.registry = CollectorRegistry()
        self._operations = Counter(
            "kubejit_operations", "Workflow operations by outcome.", ["operation", "outcome"], registry=self.registry
        )
        self._errors = Counter("kubejit_api_errors", "API errors by kind.", ["kind"], registry=self.registry)
        if keeper is not None:
            self.registry.register(_KeeperCollector(keeper))

    def operation(self, operation: str, outcome: str) -> None:
        self._operations.labels(operation, outcome).inc()

    def api_error(self, kind: str) -> None:
        self._errors.labels(kind).inc()
