"""What the grant keeper did, counted: read by the broker's metrics (``adapters/metrics.KeeperView``) and the
broker benchmark, written by the keeper's passes (:mod:`.reconciler`) and its binding sweep (:mod:`.binding_sweep`)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    expiry_lag_seconds: list[float] = field(default_factory=list)
