"""`kubejit scan` of a generated cluster dump: 5,000 bindings and 2,000 roles, next to its baseline.

The dump (JSON, as ``kubectl get clusterroles,roles,clusterrolebindings,rolebindings -A -o json`` writes it):
500 ClusterRoles (every 50th aggregated by label, the rest with 3 to 6 rules drawn from a mix of harmless
and risky ones, some labelled as bootstrap defaults), 1,500 namespaced Roles over 100 namespaces,
1,000 ClusterRoleBindings and 4,000 RoleBindings of 1 to 3 subjects each (users, groups, ServiceAccounts,
some ``system:`` ones), and 10,000 pods over the 100 namespaces, each running as one of the ServiceAccounts.
Baseline: ``json.loads`` of the dump alone. Measured: kubejit's whole scan path: reading the dump into
values, resolving aggregation, the risk analysis of every (role, scope), the findings of every (binding,
subject), who can act as the risky ServiceAccounts through pods (derived findings), sorted; and, apart, the
profiles of ``--suggest``. Target: under 10 s.

    .venv/bin/python bench/scan.py [--bindings N] [--roles N] [--pods N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from kubejit.adapters.kube.rbac_dump import parse_dump
from kubejit.domain.standing_access import scan, suggest_profiles

RULES: tuple[dict[str, list[str]], ...] = (
    {"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["create", "update", "patch"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "bind"]},
    {"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["*"]},
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
)
DEFAULTS = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def _rules(seed: int) -> list[dict[str, list[str]]]:
    count = 3 + seed % 4
    # mostly harmless: the risky rules (index 3 to 9) come in one role of three
    pool = RULES if seed % 3 == 0 else RULES[:3] + RULES[10:]
    return [pool[(seed * 7 + i * 5) % len(pool)] for i in range(count)]


def _cluster_role(c: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"cr-{c}", "labels": {"aggregate-to": f"agg-{c % 10}"}}
    if c % 20 == 0:
        metadata["labels"] |= DEFAULTS
    role: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": metadata}
    if c % 50 == 0:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to": f"agg-{c % 10 + 1}"}}]}
        role["rules"] = []
    else:
        role["rules"] = _rules(c)
    return role


def _subjects(b: int) -> list[dict[str, str]]:
    kinds = (
        {"kind": "User", "name": f"user-{b % 800}"},
        {"kind": "Group", "name": f"team-{b % 60}"},
        {"kind": "ServiceAccount", "name": f"sa-{b % 300}", "namespace": f"ns-{b % 100}"},
        {"kind": "Group", "name": "system:nodes"} if b % 17 == 0 else {"kind": "User", "name": f"ops-{b % 40}"},
    )
    return [kinds[(b + i) % len(kinds)] for i in range(1 + b % 3)]


def _binding(b: int, cluster_roles: int, roles: int, cluster_bindings: int) -> dict[str, Any]:
    cluster = b < cluster_bindings
    kind = "ClusterRoleBinding" if cluster else "RoleBinding"
    metadata: dict[str, Any] = {"name": f"b-{b}"}
    if cluster:
        ref = {"kind": "ClusterRole", "name": f"cr-{b % cluster_roles}"}
    else:
        namespace = b % 100
        metadata["namespace"] = f"ns-{namespace}"
        to_role = b % 2 == 0 and roles
        ref = (
            {"kind": "Role", "name": f"role-{(b // 2) % 15}"}
            if to_role
            else {"kind": "ClusterRole", "name": f"cr-{b % cluster_roles}"}
        )
    ref["apiGroup"] = "rbac.authorization.k8s.io"
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": ref,
        "subjects": _subjects(b),
    }


def _pod(p: int) -> dict[str, Any]:
    metadata = {"name": f"pod-{p}", "namespace": f"ns-{p % 100}"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"serviceAccountName": f"sa-{p % 300}"}}


def dump_json(bindings: int, roles: int, pods: int = 0) -> str:
    cluster_roles = roles // 4
    namespaced = roles - cluster_roles  # 15 Roles per namespace over 100 namespaces at the default size
    items: list[dict[str, Any]] = [_cluster_role(c) for c in range(cluster_roles)]
    items += [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": f"role-{r % 15}", "namespace": f"ns-{r // 15}"},
            "rules": _rules(r + 1),
        }
        for r in range(namespaced)
    ]
    items += [_binding(b, cluster_roles, namespaced, bindings // 5) for b in range(bindings)]
    items += [_pod(p) for p in range(pods)]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def median_seconds(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bindings", type=int, default=5000)
    parser.add_argument("--roles", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    text = dump_json(args.bindings, args.roles, args.pods)
    started = time.perf_counter()
    report = scan(parse_dump(text, source="bench.json"))  # cold: the analysis's rule cache starts empty
    cold = time.perf_counter() - started
    baseline = median_seconds(lambda: json.loads(text), args.runs)
    measured = median_seconds(lambda: scan(parse_dump(text, source="bench.json")), args.runs)
    print(
        f"dump of {args.bindings} bindings, {args.roles} roles and {args.pods} pods ({len(text) / 1e6:.1f} MB),",
        f"median of {args.runs} runs:",
    )
    print(f"  baseline  json.loads of the dump only                 {baseline * 1000:8.1f} ms")
    print(
        f"  kubejit   read + aggregation + analysis + findings    {measured * 1000:8.1f} ms",
        f" ({measured / baseline:.1f}x)",
    )
    print(f"  kubejit   the same, first run (cold rule cache)        {cold * 1000:8.1f} ms")
    suggesting = median_seconds(lambda: suggest_profiles(report.findings), args.runs)
    print(f"  kubejit   --suggest's profiles from the findings      {suggesting * 1000:8.1f} ms")
    derived = [finding for finding in report.findings if finding.derived]
    reached = sum(len(finding.acts_as) for finding in derived)
    print(
        f"  ({len(report.findings)} findings, {len(derived)} of them through pods reaching {reached} accounts;",
        f"{len(report.system_defaults)} system defaults apart)",
    )
    print("target: kubejit under 10000 ms")


if __name__ == "__main__":
    main()
