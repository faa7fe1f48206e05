"""Access ends on time even when brokers crash, and only the leader touches the cluster.

Each test runs brokers of its own (own namespace for their Lease and credentials, own instance label), as
separate `kubejit serve` processes that are killed with SIGKILL, the way a crash kills them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import httpx

from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.cluster import DevCluster
from tests.conftest import Kubectl, eventually
from tests.e2e.conftest import Jit, install


def can_list_pods(kubectl: Kubectl, user: str, namespace: str) -> bool:
    return kubectl("auth", "can-i", "list", "pods", "-n", namespace, user=user, check=False).stdout.strip() == "yes"


def is_leader(broker: BrokerProcess) -> bool:
    try:
        return "kubejit_leader 1.0" in httpx.get(f"{broker.url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return False


def audit_events(jit: Jit, request_id: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in jit("dave", "audit", "--grant", request_id, "-o", "json").stdout.splitlines()]


def setup_brokers(devcluster: DevCluster, tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    namespace = f"kubejit-{name}-{uuid.uuid4().hex[:6]}"
    policy_file, kubeconfig = install(devcluster, tmp_path, namespace=namespace, role_name=f"kubejit:broker:{name}")
    return policy_file, kubeconfig, namespace


def test_a_grant_that_ends_while_the_broker_is_down_is_removed_at_restart(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    policy_file, kubeconfig, lease_ns = setup_brokers(devcluster, tmp_path, "crash")
    config = broker_config(
        devcluster,
        tmp_path,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace=lease_ns,
        instance="crash",
        identity="crash-0",
    )
    broker = start_broker(config, log_name="crash-broker")
    jit = Jit(devcluster, broker.url)
    created = jit.request("alice", "debug", namespace, duration="5s")
    jit("bob", "approve", created["id"])
    assert eventually(lambda: can_list_pods(kubectl, "alice", namespace), timeout=10)
    ends_at = dt.datetime.fromisoformat(jit.json("alice", "get", created["id"])["endsAt"])

    broker.kill()  # kill -9: no cleanup runs
    while dt.datetime.now(dt.UTC) < ends_at + dt.timedelta(seconds=1):
        time.sleep(0.1)
    assert can_list_pods(kubectl, "alice", namespace), "nobody removed the binding while the broker was down"

    restarted_at = time.monotonic()
    broker = start_broker(config, log_name="crash-broker-2")
    try:
        ready_after = time.monotonic() - restarted_at
        assert eventually(lambda: not can_list_pods(kubectl, "alice", namespace), timeout=5, interval=0.02)
        gone_after = time.monotonic() - restarted_at
        assert gone_after - ready_after <= 2.0, f"binding removed {gone_after - ready_after:.2f}s after ready"
        events = audit_events(jit, created["id"])
        expired = next(e for e in events if e["kind"] == "grant.expired")
        assert expired["data"]["lag_seconds"] > 1  # type: ignore[index, operator]
        deleted = next(e for e in events if e["kind"] == "binding.deleted")
        assert deleted["data"]["reason"] == "grant ended"  # type: ignore[index]
        print(f"restart: ready {ready_after:.2f}s, binding gone {gone_after:.2f}s after the process started")
    finally:
        broker.stop()


def test_a_revoke_recorded_while_no_broker_could_act_is_applied_by_the_next_leader(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    policy_file, kubeconfig, lease_ns = setup_brokers(devcluster, tmp_path, "revoke")
    config = broker_config(
        devcluster,
        tmp_path,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace=lease_ns,
        instance="revoke",
        identity="revoke-0",
    )
    broker = start_broker(config, log_name="revoke-broker")
    jit = Jit(devcluster, broker.url)
    created = jit.request("alice", "debug", namespace, duration="30m")
    jit("bob", "approve", created["id"])
    assert eventually(lambda: can_list_pods(kubectl, "alice", namespace), timeout=10)
    broker.kill()

    # A standby replica (another identity, while the dead leader's Lease has not expired) records the revoke
    # but may not touch the cluster; then it crashes too.
    standby_config = broker_config(
        devcluster,
        tmp_path / "standby",
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace=lease_ns,
        instance="revoke",
        identity="revoke-1",
        database_url=f"sqlite:///{tmp_path / 'kubejit.db'}",
        keys_dir=tmp_path / "keys",  # the installation's keys, shared with the first replica
    )
    standby = start_broker(standby_config, log_name="revoke-standby")
    assert not is_leader(standby)
    Jit(devcluster, standby.url)("alice", "revoke", created["id"], "--reason", "incident closed")
    assert can_list_pods(kubectl, "alice", namespace), "a standby must not change bindings"
    standby.kill()

    restarted_at = time.monotonic()
    broker = start_broker(config, log_name="revoke-broker-2")  # the original identity resumes its Lease at once
    try:
        assert eventually(lambda: not can_list_pods(kubectl, "alice", namespace), timeout=5, interval=0.02)
        assert time.monotonic() - restarted_at < 10
        kinds = [e["kind"] for e in audit_events(Jit(devcluster, broker.url), created["id"])]
        assert kinds[-2:] == ["grant.revoked", "binding.deleted"]
    finally:
        broker.stop()


def test_two_replicas_on_postgresql_only_the_leader_acts_and_the_other_takes_over(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path, postgres_database: str
) -> None:
    policy_file, kubeconfig, lease_ns = setup_brokers(devcluster, tmp_path, "ha")
    replicas = []
    for index in range(2):
        config = broker_config(
            devcluster,
            tmp_path / f"r{index}",
            policy_file=policy_file,
            broker_kubeconfig=kubeconfig,
            namespace=lease_ns,
            instance="ha",
            identity=f"ha-{index}",
            database_url=postgres_database,
            keys_dir=tmp_path / "keys",  # the replicas share the installation's keys (one Secret in production)
        )
        replicas.append(start_broker(config, log_name=f"ha-{index}"))
    try:
        assert eventually(lambda: sum(is_leader(r) for r in replicas) == 1, timeout=15)
        leader = next(r for r in replicas if is_leader(r))
        standby = next(r for r in replicas if r is not leader)
        leader_id = "ha-0" if leader is replicas[0] else "ha-1"
        standby_id = "ha-1" if leader_id == "ha-0" else "ha-0"

        # A request made and approved on the standby is materialized by the leader.
        on_standby = Jit(devcluster, standby.url)
        first = on_standby.request("alice", "debug", namespace, duration="30m")
        on_standby("bob", "approve", first["id"])
        assert eventually(lambda: can_list_pods(kubectl, "alice", namespace), timeout=10)
        created = next(e for e in audit_events(on_standby, first["id"]) if e["kind"] == "binding.created")
        assert created["data"]["replica"] == leader_id  # type: ignore[index]

        leader.kill()
        assert eventually(lambda: is_leader(standby), timeout=20)
        other_ns = f"{namespace}-b"
        kubectl("create", "namespace", other_ns)
        second = on_standby.request("carol", "debug", other_ns, duration="30m")
        on_standby("bob", "approve", second["id"])
        assert eventually(lambda: can_list_pods(kubectl, "carol", other_ns), timeout=10)
        taken_over = next(e for e in audit_events(on_standby, second["id"]) if e["kind"] == "binding.created")
        assert taken_over["data"]["replica"] == standby_id  # type: ignore[index]
        on_standby("alice", "revoke", first["id"])
        assert eventually(lambda: not can_list_pods(kubectl, "alice", namespace), timeout=10)
    finally:
        for replica in replicas:
            replica.stop()
