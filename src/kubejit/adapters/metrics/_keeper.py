"""The broker's scrape-time collector: the keeper's counts, the leader, the audit chain's status, and the
pending requests and active grants by profile.

Why it exists: these numbers already live in the keeper (``services.keeper_stats.KeeperStats``, counted by its
passes), the lease and the audit checkpointer; reading them when Prometheus scrapes costs a few attribute reads
and no query, and the hot paths do no metrics work. The pending and active counts are the ones the keeper's last
pass read from the store anyway (it lists pending requests every pass and active grants every trust check), so
a scrape never queries the database. :class:`~kubejit.adapters.metrics.BrokerMetrics` registers the collector;
``kubejit.bootstrap`` builds the :class:`KeeperView` from the running broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def _nothing() -> Mapping[str, int]:
    return {}


def _unknown() -> float | None:
    return None


def _unknown_flag() -> bool | None:
    return None


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
    # Profile -> count, as the leader's keeper last read them (profile names from the policy only).
    pending_by_profile: Callable[[], Mapping[str, int]] = _nothing
    active_by_profile: Callable[[], Mapping[str, int]] = _nothing
    last_pass: Callable[[], float | None] = _unknown  # Unix time of the keeper's last finished pass
    chain_ok: Callable[[], bool | None] = _unknown_flag  # the checkpointer's last verdict on the chain; None: none yet
    last_checkpoint: Callable[[], float | None] = _unknown  # Unix time of that verdict


def _by_profile(name: str, documentation: str, counts: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["profile"])
    for profile, count in sorted(counts.items()):
        family.add_metric([profile], count)
    return family


def _optional_gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value)


class KeeperCollector(Collector):
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
        leader = v.is_leader()
        yield GaugeMetricFamily("kubejit_leader", "1 when this replica holds the lease.", 1.0 if leader else 0.0)
        yield from _optional_gauge(
            "kubejit_keeper_last_pass_timestamp_seconds",
            "Unix time of the grant keeper's last finished pass (on every replica; only the leader acts).",
            v.last_pass(),
        )
        yield from self._chain()
        if leader:  # only the leader's keeper reads the store: a standby exports none (sum() over replicas works)
            yield _by_profile(
                "kubejit_pending_requests", "Requests waiting for review, by profile.", v.pending_by_profile()
            )
            yield _by_profile("kubejit_active_grants", "Active grants, by profile.", v.active_by_profile())

    def _chain(self) -> Iterator[Metric]:
        ok = self._view.chain_ok()
        if ok is None:
            return
        yield GaugeMetricFamily(
            "kubejit_audit_chain_ok",
            "1 when the audit checkpointer's last pass found the chain consistent with its signed checkpoint; "
            "0 when it refused to checkpoint (events removed or changed, or a checkpoint missing or rolled back).",
            1.0 if ok else 0.0,
        )
        yield from _optional_gauge(
            "kubejit_audit_chain_checked_timestamp_seconds",
            "Unix time of the audit checkpointer's last verdict.",
            self._view.last_checkpoint(),
        )
