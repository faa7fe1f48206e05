"""Policy load + risk analysis of a 1,000-profile file, next to its baseline, in one run.

The file: half the profiles name a ClusterRole, half carry 4 inline rules (``--rules`` changes that);
ClusterRole rules come from memory, as if already read from the cluster. Baseline: parsing the same YAML
text with PyYAML alone (no validation). Measured: kubejit's whole `policy check` path: YAML with positions,
schema validation, domain values, cross-field checks, RBAC risk analysis of every profile and allowRisks.
Target: under 1 s.

    .venv/bin/python bench/policy_load.py [--profiles N] [--rules N] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import yaml
from _policies import ROLE_RULES, policy_yaml

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.policy import RoleKind, RoleSource
from kubejit.domain.rbac import PolicyRule
from kubejit.services.policy_review import review_policy


class PrefetchedRoles:
    """RoleRules with the cluster's roles already in memory."""

    def __init__(self) -> None:
        self.roles = {
            name: tuple(PolicyRule(tuple(r["verbs"]), tuple(r["apiGroups"]), tuple(r["resources"])) for r in rules)
            for name, rules in ROLE_RULES.items()
        }

    def rules_of(self, source: RoleSource) -> tuple[PolicyRule, ...] | None:
        return source.rules if source.kind is RoleKind.INLINE else self.roles[source.name]


def median_seconds(action: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    text = policy_yaml(args.profiles, args.rules)
    roles = PrefetchedRoles()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def load_and_review() -> None:
        review = review_policy(load_policy(text, "bench.yaml"), roles)
        if review.refused or len(review.profiles) != args.profiles:
            raise SystemExit("the generated policy should be fully usable")

    baseline = median_seconds(lambda: yaml.load(text, Loader=loader), args.runs)  # noqa: S506 - a safe loader
    measured = median_seconds(load_and_review, args.runs)
    lines = text.count("\n")
    print(f"policy of {args.profiles} profiles ({lines} lines, {len(text) / 1e6:.2f} MB), median of {args.runs} runs:")
    print(f"  baseline  PyYAML parse only ({loader.__name__})     {baseline * 1000:8.1f} ms")
    print(f"  kubejit   load + validate + risk analysis      {measured * 1000:8.1f} ms  ({measured / baseline:.1f}x)")
    print("target: kubejit under 1000 ms")


if __name__ == "__main__":
    main()
