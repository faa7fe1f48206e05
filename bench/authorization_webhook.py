"""Authorization-webhook mode through the real kube-apiserver: how fast a grant's end and a revoke turn into
refusals, and what the webhook adds to each request, next to RBAC alone in the same run.

It starts the dev control plane with kubejit's webhook before RBAC (no authorization cache, failurePolicy Deny:
the settings docs/deployment.md recommends) and a real broker (``kubejit serve``, HTTPS, SQLite, no bindings).
alice reaches kube-apiserver with her ID token under a grant (every request is reviewed by the broker); carol is
left out of the webhook's matchConditions and holds a RoleBinding to the same rules, so her requests are decided by
RBAC alone (the baseline).

    (a) revoke -> refused, and end time -> refused: from the revoke's answer (or the end time) to the first GET
        kube-apiserver refuses, polling every 10 ms.                                     target: < 1 s
    (b) latency of one GET of a ConfigMap (httpx, keep-alive, 1 client), alice (webhook) vs carol (RBAC only),
        alternating: p50 / p99, and what the webhook adds.

    .venv/bin/python bench/authorization_webhook.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import tempfile
import time
from pathlib import Path

import httpx
from _report import percentile, progress

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.authorization import AuthorizationWebhook
from kubejit.devcluster.broker import authorization_webhook_section, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.process import free_port
from kubejit.transport import trust_context

NAMESPACE = "bench-webhook"
POLICY = f"""\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {{name: bench-webhook}}
spec:
  defaults: {{defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}}
  profiles:
    - name: read
      rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list]}}]
      namespaces: ["{NAMESPACE}"]
      requesters: {{groups: [payments-devs]}}
      approval: {{approvers: {{groups: [payments-leads]}}}}
      reason: {{required: false}}
"""
BASELINE_RBAC = f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: read, namespace: {NAMESPACE}}}
rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: carol-read, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}}]
"""
CONFIGMAP = f"/api/v1/namespaces/{NAMESPACE}/configmaps/app"


class Bench:
    def __init__(self, cluster: DevCluster, broker_url: str, ca_file: Path) -> None:
        self.cluster = cluster
        self.broker = httpx.Client(base_url=broker_url, verify=trust_context(cafile=ca_file), timeout=30)
        context = trust_context(cadata=cluster.ca.cert_pem)
        self.kube = {
            user: httpx.Client(
                base_url=cluster.server_url,
                verify=context,
                headers={"Authorization": f"Bearer {cluster.mint_token(user)}"},
                timeout=10,
            )
            for user in ("alice", "carol")
        }

    def status(self, user: str) -> int:
        return self.kube[user].get(CONFIGMAP).status_code

    def grant(self, duration: str = "10m") -> tuple[str, dt.datetime]:
        as_alice = {"Authorization": f"Bearer {self.cluster.mint_token('alice')}"}
        body = {"profile": "read", "namespaces": [NAMESPACE], "duration": duration, "reason": "bench"}
        created = self.broker.post("/api/v1/requests", json=body, headers=as_alice)
        created.raise_for_status()
        request_id = created.json()["id"]
        as_bob = {"Authorization": f"Bearer {self.cluster.mint_token('bob')}"}
        self.broker.post(f"/api/v1/requests/{request_id}/approve", json={}, headers=as_bob).raise_for_status()
        deadline = time.monotonic() + 15
        while self.status("alice") != 200:
            if time.monotonic() > deadline:
                raise SystemExit("the grant never took effect")
            time.sleep(0.02)
        ends_at = self.broker.get(f"/api/v1/requests/{request_id}", headers=as_alice).json()["endsAt"]
        return request_id, dt.datetime.fromisoformat(ends_at)

    def until_refused(self, since: float) -> float:
        while self.status("alice") == 200:
            time.sleep(0.01)
        return time.monotonic() - since

    def revoke_to_refused(self) -> float:
        request_id, _ = self.grant()
        as_alice = {"Authorization": f"Bearer {self.cluster.mint_token('alice')}"}
        self.broker.post(f"/api/v1/requests/{request_id}/revoke", json={}, headers=as_alice).raise_for_status()
        return self.until_refused(time.monotonic())

    def end_to_refused(self) -> float:
        _, ends_at = self.grant("5s")
        wait = (ends_at - dt.datetime.now(dt.UTC)).total_seconds()
        time.sleep(max(0.0, wait - 0.3))
        while self.status("alice") == 200 and dt.datetime.now(dt.UTC) < ends_at:
            time.sleep(0.01)
        late = max(0.0, (dt.datetime.now(dt.UTC) - ends_at).total_seconds())
        return late + self.until_refused(time.monotonic())

    def latency(self, requests: int) -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {"alice": [], "carol": []}
        for _ in range(requests):
            for user in ("alice", "carol"):
                started = time.perf_counter()
                if self.status(user) != 200:
                    raise SystemExit(f"{user}'s GET was refused during the latency run")
                samples[user].append((time.perf_counter() - started) * 1000)
        return samples


def run(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kubejit-bench-authz-") as scratch:
        directory = Path(scratch)
        port, token = free_port(), secrets.token_urlsafe(32)
        cluster = DevCluster(directory / "cluster", with_kwok=False, with_controllers=False)
        cluster.authorization_webhook = AuthorizationWebhook(
            f"https://127.0.0.1:{port}", token, ca_pem=cluster.ca.cert_pem, excluded_users=("carol",)
        )
        progress("starting the control plane with kubejit's webhook before RBAC")
        with cluster:
            policy_file = directory / "policy.yaml"
            policy_file.write_text(POLICY)
            kubeconfig = install_broker_access(cluster, load_policy_file(policy_file), directory / "broker.kubeconfig")
            config = broker_config(
                cluster,
                directory,
                policy_file=policy_file,
                broker_kubeconfig=kubeconfig,
                port=port,
                authorization_webhook=authorization_webhook_section(token),
                serve_tls=True,
            )
            broker = start_broker(config, log_name="bench-broker")
            try:
                cluster.kubectl("create", "namespace", NAMESPACE, check=True)
                cluster.kubectl("create", "configmap", "app", "-n", NAMESPACE, check=True)
                cluster.kubectl("apply", "-f", "-", input_text=BASELINE_RBAC, check=True)
                report(
                    Bench(cluster, broker.url, directory / "dev-ca.crt"),
                    requests,
                    rounds,
                )
            finally:
                broker.stop()


def report(bench: Bench, requests: int, rounds: int) -> None:
    progress(f"(a) {rounds} revokes and {rounds} grants that end")
    revokes = [bench.revoke_to_refused() for _ in range(rounds)]
    ends = [bench.end_to_refused() for _ in range(rounds)]
    progress(f"(b) {requests} GETs each, alice (webhook) and carol (RBAC only), alternating")
    bench.grant()
    bench.latency(50)  # warm-up: connections, the broker's caches
    samples = bench.latency(requests)
    print("\nauthorization webhook (kube-apiserver 1 authorizer call per request, no cache), one run")
    print(f"  (a) revoke -> refused   median {sorted(revokes)[len(revokes) // 2]:.3f}s  max {max(revokes):.3f}s")
    print(f"      end time -> refused median {sorted(ends)[len(ends) // 2]:.3f}s  max {max(ends):.3f}s   target < 1 s")
    print("  (b) GET one ConfigMap       p50 ms   p99 ms")
    for user, label in (("carol", "RBAC only (baseline)"), ("alice", "kubejit webhook")):
        print(f"      {label:<22} {percentile(samples[user], 50):7.2f}  {percentile(samples[user], 99):7.2f}")
    added = percentile(samples["alice"], 50) - percentile(samples["carol"], 50)
    print(f"      the webhook adds {added:.2f} ms at p50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    run(arguments.requests, arguments.rounds)


if __name__ == "__main__":
    main()
