"""Authorization-webhook mode with two broker replicas on one PostgreSQL database: the webhook survives a leader
change.

kube-apiserver's webhook kubeconfig names one URL. Here it is the replica that is NOT the leader (started second,
once the first holds the Lease), and the leader is killed (SIGKILL, as a crash): the review needs no leader (every
replica answers from the shared database), the survivor takes the Lease and its keeper records the grants' ends,
and a grant is refused at its end time whether a leader is there or not (the review checks the clock). In
production the URL is a Service in front of every replica (docs/deployment.md, "Authorization webhook").
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from functools import partial
from pathlib import Path

import httpx
import pytest

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.authorization import AuthorizationWebhook
from kubejit.devcluster.broker import BrokerProcess, authorization_webhook_section, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.process import free_port
from kubejit.transport import trust_context
from tests.conftest import eventually
from tests.e2e.conftest import Jit
from tests.e2e.test_authorization_webhook import WEBHOOK_POLICY, can_list_configmaps, fresh_namespace, kubejit_bindings

LEASE_NAMESPACE = "kubejit-webhook-ha"


def is_leader(broker: BrokerProcess, ca_file: Path) -> bool:
    try:
        metrics = httpx.get(f"{broker.url}/metrics", timeout=2, verify=trust_context(cafile=ca_file)).text
    except httpx.HTTPError:
        return False
    return "kubejit_leader 1.0" in metrics


def ends_at(jit: Jit, grant: str) -> dt.datetime:
    return dt.datetime.fromisoformat(jit.json("alice", "get", grant)["endsAt"])


def sleep_until(moment: dt.datetime) -> None:
    while dt.datetime.now(dt.UTC) < moment:
        time.sleep(0.02)


def expired_data(jit: Jit, grant: str, timeout: float) -> dict[str, object]:
    """The data of the grant's ``grant.expired`` event (the keeper's record of its end), once it is written."""
    deadline = time.monotonic() + timeout
    while True:
        lines = jit("dave", "audit", "--grant", grant, "-o", "json").stdout.splitlines()
        found = [event["data"] for event in map(json.loads, lines) if event["kind"] == "grant.expired"]
        if found:
            return dict(found[0])
        if time.monotonic() > deadline:
            pytest.fail(f"no grant.expired event for {grant} after {timeout}s")
        time.sleep(0.2)


def test_the_webhook_survives_a_leader_change(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports, token = (free_port(), free_port()), secrets.token_urlsafe(32)
    cluster = DevCluster(tmp_path / "cluster", with_kwok=False, with_controllers=False)
    # One URL only, as a webhook kubeconfig has: replica 1, which will be the standby.
    cluster.authorization_webhook = AuthorizationWebhook(
        f"https://127.0.0.1:{ports[1]}", token, ca_pem=cluster.ca.cert_pem
    )
    with cluster:
        policy_file = tmp_path / "policy.yaml"
        policy_file.write_text(WEBHOOK_POLICY)
        kubeconfig = install_broker_access(
            cluster, load_policy_file(policy_file), tmp_path / "broker.kubeconfig", namespace=LEASE_NAMESPACE
        )
        configs = [
            broker_config(
                cluster,
                tmp_path / f"r{index}",
                policy_file=policy_file,
                broker_kubeconfig=kubeconfig,
                database_url=postgres_database,
                port=ports[index],
                namespace=LEASE_NAMESPACE,
                instance="webhook-ha",
                identity=f"wh-{index}",
                keys_dir=tmp_path / "keys",  # one installation's keys, shared (one Secret in production)
                authorization_webhook=authorization_webhook_section(token),
                serve_tls=True,
            )
            for index in range(2)
        ]
        ca_file = tmp_path / "r1" / "dev-ca.crt"
        monkeypatch.setenv("KUBEJIT_CA", str(ca_file))  # for the kubejit CLI against the HTTPS brokers
        leader = start_broker(configs[0], log_name="wh-0")
        replicas = [leader]
        try:
            assert eventually(lambda: is_leader(leader, ca_file), timeout=15)
            standby = start_broker(configs[1], log_name="wh-1")
            replicas.append(standby)
            assert not is_leader(standby, ca_file), "the first replica holds the Lease"
            _leader_change(cluster, leader, standby, ca_file)
        finally:
            for replica in replicas:
                replica.stop()


def _leader_change(cluster: DevCluster, leader: BrokerProcess, standby: BrokerProcess, ca_file: Path) -> None:
    jit = Jit(cluster, standby.url)
    late_ns, early_ns = fresh_namespace(cluster), fresh_namespace(cluster)
    grants = {}
    for namespace, duration in ((late_ns, "40s"), (early_ns, "14s")):
        created = jit.request("alice", "ops", namespace, duration=duration)
        jit("bob", "approve", created["id"])
        assert eventually(partial(can_list_configmaps, cluster, namespace), timeout=10)
        grants[namespace] = str(created["id"])
    early_end, late_end = ends_at(jit, grants[early_ns]), ends_at(jit, grants[late_ns])
    assert kubejit_bindings(cluster) == "", "no RBAC binding: every allow comes from the webhook (the standby)"

    # Kill the leader a little before the early grant ends: it ends while nobody holds the Lease (6 s).
    sleep_until(early_end - dt.timedelta(seconds=3))
    assert dt.datetime.now(dt.UTC) < early_end - dt.timedelta(seconds=2), "too slow to kill the leader in time"
    leader.kill()
    killed_at = time.monotonic()
    assert can_list_configmaps(cluster, early_ns), "the standby answers the review with the leader gone"
    assert not is_leader(standby, ca_file), "answered while no replica held the Lease"

    sleep_until(early_end)
    assert not can_list_configmaps(cluster, early_ns), "refused at the grant's end time, with no leader at all"
    assert can_list_configmaps(cluster, late_ns), "the other grant still works"

    assert eventually(lambda: is_leader(standby, ca_file), timeout=20), "the survivor takes the Lease"
    print(f"the survivor leads {time.monotonic() - killed_at:.1f}s after the leader was killed")
    early_expired = expired_data(jit, grants[early_ns], timeout=10)
    assert early_expired["replica"] == "wh-1", early_expired  # the new leader's first pass ends the overdue grant

    assert can_list_configmaps(cluster, late_ns)
    sleep_until(late_end)
    assert not can_list_configmaps(cluster, late_ns), "refused at the grant's end time, under the new leader"
    late_expired = expired_data(jit, grants[late_ns], timeout=5)
    assert late_expired["replica"] == "wh-1", late_expired
    lag = float(str(late_expired["lag_seconds"]))
    assert lag < 2.0, f"the new leader's keeper ended the grant {lag}s late"
    print(f"keeper: the early grant recorded ended {early_expired['lag_seconds']}s late, the late one {lag}s")
    assert kubejit_bindings(cluster) == ""
