"""Warm start-to-ready of the local control plane, next to its baseline, in one run.

Baseline: etcd + kube-apiserver alone (what envtest starts; dev OIDC tokens accepted). Measured: the full dev
control plane (plus kube-controller-manager with aggregated ClusterRoles, kube-scheduler's /readyz, and kwok's
node Ready).
Binaries must already be cached (`kubejit devcluster binaries`); the cold build is not what this measures.

    .venv/bin/python bench/devcluster_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from kubejit.devcluster import binaries
from kubejit.devcluster.cluster import DevCluster


def time_start(**options: bool) -> tuple[float, str]:
    started = time.monotonic()
    cluster = DevCluster(**options)
    cluster.start()
    elapsed = time.monotonic() - started
    phases = str(cluster.timings)
    cluster.stop()
    return elapsed, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    binaries.ensure(with_kwok=True)  # build outside the timed region

    rows = [
        ("etcd + kube-apiserver (baseline)", {"with_kwok": False, "with_controllers": False}),
        ("full dev control plane", {}),
    ]
    print(f"warm start to ready, {runs} runs each (median, min, max):")
    for label, options in rows:
        samples = []
        last = ""
        for _ in range(runs):
            seconds, last = time_start(**options)
            samples.append(seconds)
        print(
            f"  {label:34} median {statistics.median(samples):5.2f}s  min {min(samples):5.2f}s  "
            f"max {max(samples):5.2f}s   last run: {last}"
        )
    print("target: full dev control plane <= 10 s")


if __name__ == "__main__":
    main()
