"""The broker's speed against a real control plane, each figure next to its baseline, in one run.

1. approval -> usable access: from the approve call until kube-apiserver authorizes the user (a
   SelfSubjectAccessReview as the user, what `kubectl auth can-i` sends, polled every 10 ms).
   Baseline: the same probe right after an admin creates the same RoleBinding directly.  Target p50 <= 0.5 s.
2. end time -> access gone: from a grant's end time until kube-apiserver refuses the user.
   Baseline: the same probe after an admin deletes a RoleBinding directly.  Target p99 <= 1 s.
3. 1,000 grants ending in the same second: how long until all their bindings are gone. The grants are created
   and approved through the API; their end times are then set to one instant in the database (the only way to
   make 1,000 grants end together).
4. create-request throughput with 16 concurrent clients, SQLite and PostgreSQL.
   Baseline: GET /healthz on the same broker (the HTTP stack alone).

    .venv/bin/python bench/broker.py [--samples N] [--grants N]
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _report import percentile, progress

from kubejit.adapters.policy_file import load_policy
from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.adapters.store.sql import SqlStore
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.postgres import throwaway_postgres
from kubejit.domain.workflow import State

POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: bench}
spec:
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: debug
      clusterRole: view
      namespaces: ["bench-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
"""


def summary(samples: list[float]) -> str:
    return (
        f"p50 {statistics.median(samples) * 1000:7.1f} ms  p99 {percentile(samples, 99) * 1000:7.1f} ms  "
        f"max {max(samples) * 1000:7.1f} ms  (n={len(samples)})"
    )


class Bench:
    def __init__(self, cluster: DevCluster, broker: BrokerProcess) -> None:
        self.cluster = cluster
        self.broker = broker
        self.tokens = {u: cluster.mint_token(u) for u in ("alice", "bob")}
        self.api = httpx.Client(base_url=broker.url, timeout=60)
        # Two connections: as the admin (client certificate) to count bindings, and with only the cluster CA
        # for asking as alice: with the admin certificate presented, kube-apiserver would see the admin.
        self.kube = httpx.Client(base_url=cluster.server_url, verify=cluster.admin_ssl_context(), timeout=10)
        trust_only = ssl.create_default_context(cadata=cluster.ca.cert_pem.decode())
        self.as_alice = httpx.Client(base_url=cluster.server_url, verify=trust_only, timeout=10)

    def as_user(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def can_list_pods(self, namespace: str) -> bool:
        """What `kubectl auth can-i list pods -n NS` asks kube-apiserver, as alice."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": namespace}},
        }
        response = self.as_alice.post(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review, headers=self.as_user("alice")
        )
        return bool(response.json()["status"]["allowed"])

    def wait_for(self, check: Callable[[], bool], timeout: float = 30.0) -> float:
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise TimeoutError("the cluster did not change in time")
            time.sleep(0.01)
        return time.monotonic() - started

    def namespace(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.cluster.kubectl("create", "namespace", name, check=True)
        return name

    def request(self, namespace: str, duration: str) -> str:
        body = {"profile": "debug", "namespaces": [namespace], "duration": duration, "reason": "bench"}
        response = self.api.post("/api/v1/requests", json=body, headers=self.as_user("alice"))
        response.raise_for_status()
        return str(response.json()["id"])

    def approve(self, request_id: str) -> None:
        self.api.post(f"/api/v1/requests/{request_id}/approve", json={}, headers=self.as_user("bob")).raise_for_status()

    # ---- 1 and 2 -----------------------------------------------------------------------------------------

    def approval_to_access(self, samples: int) -> tuple[list[float], list[float]]:
        measured, baseline = [], []
        for _ in range(samples):
            ns = self.namespace()
            request_id = self.request(ns, "10m")
            started = time.monotonic()
            self.approve(request_id)
            self.wait_for(lambda ns=ns: self.can_list_pods(ns))
            measured.append(time.monotonic() - started)
            self.api.post(f"/api/v1/requests/{request_id}/revoke", json={}, headers=self.as_user("alice"))

            direct = self.namespace()
            started = time.monotonic()
            self.cluster.kubectl(
                "create", "rolebinding", "direct", "--clusterrole=view", "--user=alice", "-n", direct, check=True
            )
            self.wait_for(lambda ns=direct: self.can_list_pods(ns))
            baseline.append(time.monotonic() - started)
        return measured, baseline

    def end_to_gone(self, samples: int) -> tuple[list[float], list[float]]:
        measured, baseline = [], []
        grants = []
        for _ in range(samples):
            ns = self.namespace()
            request_id = self.request(ns, "3s")
            self.approve(request_id)
            grants.append((ns, request_id))
        progress("waiting for the short grants to be usable")
        for ns, _ in grants:
            self.wait_for(lambda ns=ns: self.can_list_pods(ns))
        progress("waiting for them to end")
        for ns, request_id in grants:
            ends_at = datetime.fromisoformat(
                self.api.get(f"/api/v1/requests/{request_id}", headers=self.as_user("alice")).json()["endsAt"]
            )
            while self.can_list_pods(ns):
                time.sleep(0.01)
            measured.append(max(0.0, (datetime.now(UTC) - ends_at).total_seconds()))
        for _ in range(samples):
            direct = self.namespace()
            self.cluster.kubectl(
                "create", "rolebinding", "direct", "--clusterrole=view", "--user=alice", "-n", direct, check=True
            )
            self.wait_for(lambda ns=direct: self.can_list_pods(ns))
            started = time.monotonic()
            self.cluster.kubectl("delete", "rolebinding", "direct", "-n", direct, check=True)
            self.wait_for(lambda ns=direct: not self.can_list_pods(ns))
            baseline.append(time.monotonic() - started)
        return measured, baseline

    # ---- 3 -----------------------------------------------------------------------------------------------

    def mass_expiry(self, grants: int, database_url: str, seal_key_file: Path) -> tuple[float, float]:
        ns = self.namespace()
        ids = []
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda _: self.request(ns, "4h"), range(grants)))
            list(pool.map(self.approve, ids))
        self.wait_for(lambda: self.count_bindings(ns) == grants, timeout=600)
        end = datetime.now(UTC) + timedelta(seconds=3)
        # Every grant now ends at the same instant: written as the broker writes, sealed with its key (a row changed
        # without it would be no grant at all, and the keeper would end it at once, which measures nothing).
        store = SqlStore(database_url, seal_key=load_or_create_seal_key(seal_key_file))
        with store() as uow:
            for stored in uow.requests.find(states=[State.ACTIVE], limit=grants + 10):
                uow.requests.update(replace(stored.request, ends_at=end), stored.version)
            uow.commit()
        store.dispose()
        while datetime.now(UTC) < end:
            time.sleep(0.005)
        started = time.monotonic()
        self.wait_for(lambda: self.count_bindings(ns) == 0, timeout=600)
        all_gone = time.monotonic() - started
        last_expired = self.wait_for(lambda: self.count_active() == 0, timeout=600) + all_gone
        return all_gone, last_expired

    def count_bindings(self, namespace: str) -> int:
        listed = self.kube.get(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
            params={"labelSelector": "app.kubernetes.io/managed-by=kubejit"},
        )
        return len(listed.json()["items"])

    def count_active(self) -> int:
        return len(self.api.get("/api/v1/requests", params={"state": "active"}, headers=self.as_user("alice")).json())

    # ---- 4 -----------------------------------------------------------------------------------------------

    def throughput(self, action: Callable[[httpx.Client], None], seconds: float = 5.0, clients: int = 16) -> float:
        done = [0] * clients
        stop = time.monotonic() + seconds

        def run(index: int) -> None:
            with httpx.Client(base_url=self.broker.url, timeout=60) as client:
                while time.monotonic() < stop:
                    action(client)
                    done[index] += 1

        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(done) / seconds

    def create_rates(self) -> tuple[float, float]:
        ns = self.namespace()
        body = {"profile": "debug", "namespaces": [ns], "duration": "5m", "reason": "bench"}
        headers = self.as_user("alice")
        health = self.throughput(lambda c: c.get("/healthz").raise_for_status())
        create = self.throughput(lambda c: c.post("/api/v1/requests", json=body, headers=headers).raise_for_status())
        return create, health


def run_broker(cluster: DevCluster, workdir: Path, database_url: str | None, name: str) -> BrokerProcess:
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(POLICY)
    namespace = f"kubejit-bench-{name}"
    kubeconfig = install_broker_access(
        cluster,
        load_policy(POLICY),
        workdir / f"{name}.kubeconfig",
        namespace=namespace,
        role_name=f"kubejit:broker:{name}",
    )
    config = broker_config(
        cluster,
        workdir / name,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        database_url=database_url,
        namespace=namespace,
        instance=name,
        identity=name,
    )
    return start_broker(config, log_name=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--grants", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DevCluster(with_kwok=False) as cluster, throwaway_postgres() as pg:
        workdir = Path(tmp)
        sqlite = run_broker(cluster, workdir, None, "sqlite")
        try:
            bench = Bench(cluster, sqlite)
            measured, baseline = bench.approval_to_access(args.samples)
            print("1. approval -> usable access (SelfSubjectAccessReview as the user):")
            print(f"   kubejit approve          {summary(measured)}")
            print(f"   baseline direct binding  {summary(baseline)}")
            print("   target: p50 <= 500 ms")
            measured, baseline = bench.end_to_gone(args.samples)
            print("2. end time -> access gone:")
            print(f"   kubejit expiry           {summary(measured)}")
            print(f"   baseline direct delete   {summary(baseline)}")
            print("   target: p99 <= 1000 ms")
            create_sqlite, health_sqlite = bench.create_rates()
            all_gone, recorded = bench.mass_expiry(
                args.grants, sqlite.database_url, workdir / "sqlite" / "keys" / "request-seal.key"
            )
            print(
                f"3. {args.grants} grants ending in the same second (SQLite): all bindings gone {all_gone:.2f} s "
                f"after the end time; all recorded expired {recorded:.2f} s after it"
            )
        finally:
            sqlite.stop()
        postgres = run_broker(cluster, workdir, pg, "postgres")
        try:
            create_pg, health_pg = Bench(cluster, postgres).create_rates()
        finally:
            postgres.stop()
        print("4. create-request throughput, 16 clients, 5 s each:")
        print(f"   SQLite      {create_sqlite:7.1f} req/s   baseline GET /healthz {health_sqlite:7.1f} req/s")
        print(f"   PostgreSQL  {create_pg:7.1f} req/s   baseline GET /healthz {health_pg:7.1f} req/s")


if __name__ == "__main__":
    main()
