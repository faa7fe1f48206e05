"""What the grant keeper did, counted: read by the broker's metrics (``adapters/metrics.KeeperView``) and the
broker benchmark, written by the keeper's passes (:mod:`.reconciler`) and its binding sweep (:mod:`.binding_sweep`).
The timings a pass observes (time to approve, expiry lag) go to a :class:`KeeperObserver` (the broker's metrics)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol


class KeeperObserver(Protocol):
    """Timings the keeper observes as it acts (the broker's metrics implement it; label values are profiles)."""

    def approved_after(self, profile: str, seconds: float) -> None:
        """A grant being activated waited ``seconds`` from its submission to its approval."""

    def expired_late(self, profile: str, seconds: float) -> None:
        """A grant was ended ``seconds`` after its end time (bindings removed, record ended)."""


class RecentValues(list[float]):
    """The newest ``keep`` values appended, oldest first: what the keeper's counters keep of a timing whose whole
    distribution the metrics' histogram holds (callers read the last one: ``kubejit_last_expiry_lag_seconds``).
    Only :meth:`append` is bounded; the keeper adds values with nothing else."""

    def __init__(self, keep: int = 32) -> None:
        super().__init__()
        self.keep = keep

    def append(self, value: float, /) -> None:
        super().append(value)
        if len(self) > self.keep:
            del self[: len(self) - self.keep]


class NoObserver:
    """Observes nothing (the keeper without metrics: tests, the benchmark)."""

    def approved_after(self, profile: str, seconds: float) -> None:
        pass

    def expired_late(self, profile: str, seconds: float) -> None:
        pass


@dataclass
class KeeperStats:
    """What the keeper did, for metrics and the benchmark."""

    activated: int = 0
    expired: int = 0
    unbound_revoked: int = 0
    swept: int = 0
    unrecognized: int = 0  # bindings labelled as this installation's that were no grant's (removed, reported)
    failures: int = 0
    refused: int = 0  # row versions refused as access: unsealed, changed behind the broker's back, or off-policy
    expiry_lag_seconds: RecentValues = field(default_factory=RecentValues)  # the newest only: bounded
    # As the last pass read them (pending: every pass; active and trusted: every trust check), by profile; the
    # policy's profile names only (a row naming another profile counts as "other").
    pending_by_profile: dict[str, int] = field(default_factory=dict)
    active_by_profile: dict[str, int] = field(default_factory=dict)


def by_profile(profiles: Iterable[str], known: Callable[[str], object]) -> dict[str, int]:
    """How many of each profile; a name ``known`` does not know (returns None for) is counted as ``other``."""
    return dict(Counter(name if known(name) is not None else "other" for name in profiles))
