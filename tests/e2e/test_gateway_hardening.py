"""Gateway hardening against the real control plane (issue 10): a namespaced grant reaches only discovery among
paths outside the API, and requests from unknown callers are counted and logged at a bounded rate."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from kubejit.devcluster.cluster import DevCluster
from kubejit.transport import trust_context
from tests.conftest import Kubectl, eventually
from tests.e2e.gateway_env import GatewayEnv, module_gateway_env, namespace_with_pod

env = module_gateway_env("gwh")


@pytest.fixture
def ns(devcluster: DevCluster) -> str:
    return namespace_with_pod(devcluster, pod=False)


@pytest.mark.parametrize("path", ["/metrics", "/logs/", "/debug/pprof/"])
def test_a_namespaced_grant_reaches_discovery_but_no_other_path_outside_the_api(
    env: GatewayEnv, ns: str, kubectl: Kubectl, path: str
) -> None:
    grant = env.grant("alice", "debug", ns)
    config = env.kubeconfig(env.token("alice", grant), ns)
    assert env.kubectl(config, "get", "--raw", "/api").returncode == 0
    assert env.kubectl(config, "get", "--raw", "/version").returncode == 0
    refused = env.kubectl(config, "get", "--raw", path)
    assert refused.returncode == 1
    assert f"grant {grant} (debug) is namespaced" in refused.stderr, refused.stderr
    if path == "/metrics":  # served by this control plane (the others are off here): the admin may read it
        assert kubectl("get", "--raw", path, check=False).returncode == 0


def test_requests_from_unknown_callers_are_counted_and_logged_at_a_bounded_rate(env: GatewayEnv) -> None:
    log_path = env.gateway.process.log_path
    before = log_path.read_text().count("from unknown callers")
    secret = "not-a-token-" + uuid.uuid4().hex
    started = time.monotonic()
    with httpx.Client(base_url=env.gateway.url, verify=trust_context(cafile=env.gateway_ca), timeout=10) as client:
        for n in range(300):
            headers = {"Authorization": f"Bearer {secret}"} if n % 3 else {}
            assert client.get("/api/v1/namespaces/default/pods", headers=headers).status_code == 401
    elapsed = time.monotonic() - started

    def reported() -> list[str]:
        return [line for line in log_path.read_text().splitlines() if "from unknown callers" in line][before:]

    # The first refusal is reported at once; the rest within the next interval (10 s), as one line with the count.
    assert eventually(lambda: sum(_count(line) for line in reported()) >= 300, timeout=15), reported()
    assert len(reported()) <= 2 + int(elapsed // 10), reported()
    assert all("Unauthorized" in line for line in reported())
    assert secret not in log_path.read_text()  # a refused token never reaches the log


def _count(line: str) -> int:
    return int(line.split("refused ", 1)[1].split(" ", 1)[0])
