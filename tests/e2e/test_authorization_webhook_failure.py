"""Authorization-webhook mode under ``failurePolicy: NoOpinion``: while the broker is down, RBAC decides.

What docs/deployment.md ("Authorization webhook", failurePolicy) says of the choice, checked against the real
kube-apiserver: with the broker stopped people's standing RBAC keeps working, a grant made without bindings gives
nothing (kube-apiserver answers 500 with the failed call, as under ``Deny``: nothing allowed it, and the webhook
failed), and a grant made with ``bindings: true`` keeps its RBAC
binding, so its guardrails are bypassed until the broker answers again. ``Deny`` is tested in
``test_authorization_webhook.py``. The control plane is this module's own (the webhook's port is chosen first).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class NoOpinionCluster:
    cluster: DevCluster
    directory: Path
    port: int
    token: str
    policy_file: Path

    def start_broker(self, name: str, *, bindings: bool) -> BrokerProcess:
        """A broker of its own (Lease, checkpoint and database apart) on the port the webhook kubeconfig names."""
        namespace = f"kubejit-{name}"
        kubeconfig = install_broker_access(
            self.cluster, load_policy_file(self.policy_file), self.directory / f"{name}.kubeconfig", namespace=namespace
        )
        config = broker_config(
            self.cluster,
            self.directory / name,
            policy_file=self.policy_file,
            broker_kubeconfig=kubeconfig,
            namespace=namespace,
            instance=name,
            port=self.port,
            authorization_webhook=authorization_webhook_section(self.token, bindings=bindings),
            serve_tls=True,
        )
        return start_broker(config, log_name=name)


@pytest.fixture(scope="module")
def no_opinion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NoOpinionCluster]:
    directory = tmp_path_factory.mktemp("authorization-webhook-no-opinion")
    port, token = free_port(), secrets.token_urlsafe(32)
    cluster = DevCluster(directory / "cluster", with_kwok=False, with_controllers=False)
    cluster.authorization_webhook = AuthorizationWebhook(
        f"https://127.0.0.1:{port}", token, ca_pem=cluster.ca.cert_pem, failure_policy="NoOpinion"
    )
    with cluster, pytest.MonkeyPatch.context() as patch:
        policy_file = directory / "policy.yaml"
        policy_file.write_text(WEBHOOK_POLICY)
        (directory / "dev-ca.crt").write_bytes(cluster.ca.cert_pem)
        patch.setenv("KUBEJIT_CA", str(directory / "dev-ca.crt"))  # for the kubejit CLI against the HTTPS broker
        yield NoOpinionCluster(cluster, directory, port, token, policy_file)


def status_of(cluster: DevCluster, user: str, path: str) -> int:
    """kube-apiserver's HTTP status for a GET of ``path`` by ``user`` with their ID token (what kubectl turns into
    "Error from server (...)")."""
    response = httpx.get(
        cluster.server_url + path,
        headers={"Authorization": f"Bearer {cluster.mint_token(user)}"},
        verify=trust_context(cadata=cluster.ca.cert_pem),
        timeout=10,
    )
    return response.status_code


def grant_ops(cluster: DevCluster, broker: BrokerProcess, namespace: str) -> None:
    jit = Jit(cluster, broker.url)
    created = jit.request("alice", "ops", namespace)
    jit("bob", "approve", created["id"])
    assert eventually(lambda: can_list_configmaps(cluster, namespace), timeout=10)


def test_with_the_broker_down_rbac_decides_and_a_grant_without_bindings_gives_nothing(
    no_opinion: NoOpinionCluster,
) -> None:
    cluster = no_opinion.cluster
    namespace = fresh_namespace(cluster)
    # carol's standing access (a Role: the aggregated `view` has no rules without kube-controller-manager)
    cluster.kubectl(
        "create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps", "-n", namespace, check=True
    )
    cluster.kubectl("create", "rolebinding", "carol", "--role=cm-reader", "--user=carol", "-n", namespace, check=True)
    broker = no_opinion.start_broker("no-bindings", bindings=False)
    try:
        grant_ops(cluster, broker, namespace)
        assert kubejit_bindings(cluster) == ""
        up = cluster.kubectl("get", "configmaps", "-n", namespace, user="carol")
        assert up.returncode == 0, f"the webhook has no opinion on carol, RBAC allows\n{up.stderr}"
    finally:
        broker.stop()
    carol = cluster.kubectl("get", "configmaps", "-n", namespace, user="carol")
    assert carol.returncode == 0, f"standing RBAC keeps working\n{carol.stderr}"
    assert status_of(cluster, "carol", f"/api/v1/namespaces/{namespace}/configmaps") == 200
    refused = cluster.kubectl("get", "configmaps", "-n", namespace, user="alice")
    assert refused.returncode != 0, "NoOpinion with no binding: RBAC has nothing for the grant"
    # Nothing allowed it, and the webhook's call failed: kube-apiserver answers 500 with the call's error (as under
    # Deny), not RBAC's 403. NoOpinion changes only whether RBAC may still allow.
    assert "Error from server (InternalError)" in refused.stderr, refused.stderr
    assert "authorization/review" in refused.stderr
    assert status_of(cluster, "alice", f"/api/v1/namespaces/{namespace}/configmaps") == 500


def test_with_the_broker_down_a_grant_with_bindings_escapes_its_guardrails(no_opinion: NoOpinionCluster) -> None:
    cluster = no_opinion.cluster
    namespace = fresh_namespace(cluster)
    broker = no_opinion.start_broker("with-bindings", bindings=True)
    try:
        grant_ops(cluster, broker, namespace)
        assert kubejit_bindings(cluster) != "", "bindings: true makes the RBAC binding of mode 1 too"
        refused = cluster.kubectl("delete", "configmap", "keep-me", "-n", namespace, user="alice")
        assert refused.returncode != 0, "the webhook's denied stops kube-apiserver before RBAC"
        assert "refused by guardrail no-destructive.deny[0]" in refused.stderr, refused.stderr
    finally:
        broker.stop()
    bypassed = cluster.kubectl("delete", "configmap", "keep-me", "-n", namespace, user="alice")
    assert bypassed.returncode == 0, f"NoOpinion: RBAC alone decides while the broker is down\n{bypassed.stderr}"
