"""The keeper's counters stay bounded however long the broker runs: only the newest expiry lags are kept (the
metrics' histogram holds the distribution), and the last one is what the broker's gauge reads."""

from __future__ import annotations

from kubejit.services.keeper_stats import KeeperStats, RecentValues


def test_the_expiry_lags_kept_are_bounded_and_the_last_is_the_newest() -> None:
    stats = KeeperStats()
    for lag in range(10_000):
        stats.expiry_lag_seconds.append(float(lag))
    assert len(stats.expiry_lag_seconds) == stats.expiry_lag_seconds.keep == 32
    assert stats.expiry_lag_seconds[-1] == 9999.0
    assert stats.expiry_lag_seconds[0] == 9999.0 - 31


def test_below_the_bound_it_is_a_plain_list() -> None:
    recent = RecentValues(keep=3)
    recent.append(0.5)
    assert recent == [0.5]
    for value in (1.0, 2.0, 3.0):
        recent.append(value)
    assert recent == [1.0, 2.0, 3.0]
