"""The broker's and the gateway's /metrics after a real request -> approve -> use -> expire flow (real broker and
gateway processes, real kubectl): the numbers move as the flow goes, and the gateway's monitoring listener
answers /healthz and /readyz."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.process import free_port
from tests.conftest import Kubectl, eventually
from tests.e2e.gateway_env import GatewayEnv, gateway_env, namespace_with_pod

MONITORING_PORT = free_port()


@pytest.fixture(scope="module")
def env(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayEnv]:
    settings = {"metrics": {"listen": f"127.0.0.1:{MONITORING_PORT}"}}
    with gateway_env(devcluster, tmp_path_factory.mktemp("metrics"), name="metrics", gateway_settings=settings) as e:
        yield e


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(url: str, name: str, **labels: str) -> float | None:
    return scrape(url).get((name, frozenset(labels.items())))


def test_a_grants_life_moves_the_broker_and_gateway_metrics(
    env: GatewayEnv, devcluster: DevCluster, kubectl: Kubectl
) -> None:
    broker = f"{env.broker.url}/metrics"
    gateway = f"http://127.0.0.1:{MONITORING_PORT}/metrics"
    assert sample(broker, "kubejit_time_to_approve_seconds_count", profile="ops") is None
    ns = namespace_with_pod(devcluster)

    grant = env.grant("alice", "ops", ns, duration="6s")
    assert sample(broker, "kubejit_time_to_approve_seconds_count", profile="ops") == 1
    assert eventually(lambda: sample(broker, "kubejit_active_grants", profile="ops") == 1, timeout=5)
    assert sample(broker, "kubejit_leader") == 1
    last_pass = sample(broker, "kubejit_keeper_last_pass_timestamp_seconds")
    assert last_pass is not None
    assert abs(time.time() - last_pass) < 10

    config = env.kubeconfig(env.token("alice", grant), ns)
    assert env.kubectl(config, "get", "pods").returncode == 0
    kubectl("create", "configmap", "keep-me", "-n", ns)
    refused = env.kubectl(config, "delete", "configmap", "keep-me")
    assert "refused by guardrail no-destructive" in refused.stderr
    gateway_denials = {"profile": "ops", "guardrail": "no-destructive"}
    assert sample(gateway, "kubejit_gateway_guardrail_denials_total", **gateway_denials) == 1
    listed = sample(
        gateway, "kubejit_gateway_request_duration_seconds_count", verb="list", resource_class="pods", code="2xx"
    )
    assert listed is not None
    assert listed >= 1
    assert eventually(
        lambda: sample(broker, "kubejit_guardrail_denials_total", **gateway_denials, source="gateway") == 1, timeout=5
    ), "the gateway's activity did not reach the broker's count"
    book_age = sample(gateway, "kubejit_gateway_grant_book_age_seconds")
    assert book_age is not None
    assert book_age < 5
    assert sample(gateway, "kubejit_gateway_grant_book_fresh") == 1
    assert eventually(lambda: sample(gateway, "kubejit_gateway_activity_queued") == 0, timeout=5)

    assert eventually(lambda: sample(broker, "kubejit_expiry_lag_seconds_count", profile="ops") == 1, timeout=20)
    lag = sample(broker, "kubejit_expiry_lag_seconds_sum", profile="ops")
    assert lag is not None
    assert lag < 2, f"the grant ended {lag:.2f}s after its end time"
    assert eventually(lambda: sample(broker, "kubejit_active_grants", profile="ops") is None, timeout=5)
    assert eventually(lambda: sample(broker, "kubejit_audit_chain_ok") == 1, timeout=10)


def test_the_gateways_monitoring_listener_answers_probes_and_nothing_else(env: GatewayEnv) -> None:
    base = f"http://127.0.0.1:{MONITORING_PORT}"
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert eventually(lambda: httpx.get(f"{base}/readyz").status_code == 200, timeout=10)
    assert httpx.get(f"{base}/api/v1/namespaces").status_code == 404
    assert httpx.post(f"{base}/metrics").status_code == 405
