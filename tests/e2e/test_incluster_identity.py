"""kubejit's own identities, as their pods have them, against the real kube-apiserver: the broker's ServiceAccount
(the session broker runs as it, found in-cluster) may create and delete the bindings the policy needs and bind
the policy's roles, and nothing else: no other role, no role edits, no secrets, no impersonation; the gateway's
ServiceAccount may impersonate users and groups only. Checked twice: ``kubectl auth can-i --token`` and real
requests. And the token file is followed: a rotated token is used at the next request."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRole, Role, RoleBinding

from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.upstream_config import upstream_in_cluster
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.gateway import prepare_gateway
from kubejit.devcluster.in_cluster import InClusterIdentity, request_token, rotate_token, service_account_identity
from kubejit.transport import trust_context
from tests.e2e.conftest import BrokerSetup


def can_i(cluster: DevCluster, identity: InClusterIdentity, *args: str) -> str:
    """``kubectl auth can-i`` with the identity's token alone (no kubeconfig, so no admin certificate)."""
    result = subprocess.run(
        [
            str(cluster.bins.kubectl),
            "--kubeconfig=/dev/null",
            f"--server={cluster.server_url}",
            f"--certificate-authority={identity.directory / 'ca.crt'}",
            f"--token={identity.token}",
            "auth",
            "can-i",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.strip()


def in_cluster_client(identity: InClusterIdentity) -> Client:
    """kubejit's own in-cluster client construction, on the identity's directory and address."""
    return make_client(None, service_account_dir=identity.directory, environ=identity.environ)


def refused(action: Callable[[], object]) -> int:
    """The HTTP status kube-apiserver refused ``action`` with (the test fails if it was allowed)."""
    try:
        action()
    except ApiError as error:
        return error.status.code or 0
    pytest.fail("kube-apiserver allowed what this identity must not do")


def binding(namespace: str, role_kind: str, role: str) -> RoleBinding:
    return RoleBinding(
        metadata=ObjectMeta(name=f"t-{uuid.uuid4().hex[:8]}", namespace=namespace),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind=role_kind, name=role),
        subjects=[Subject(kind="User", name="alice", apiGroup="rbac.authorization.k8s.io")],
    )


def whoami(client: Client) -> str:
    review = client.create(SelfSubjectReview())
    assert review.status is not None
    assert review.status.userInfo is not None
    return str(review.status.userInfo.username)


def test_the_broker_runs_in_cluster_with_no_kubeconfig(broker_setup: BrokerSetup) -> None:
    config = broker_setup.broker.config.read_text()
    assert "kubeconfig" not in config
    assert str(broker_setup.broker_identity.directory) in config
    with in_cluster_client(broker_setup.broker_identity) as client:
        assert whoami(client) == "system:serviceaccount:kubejit-e2e:kubejit-broker"


def test_the_broker_may_bind_the_policys_roles_and_nothing_else(broker_setup: BrokerSetup, namespace: str) -> None:
    cluster, me = broker_setup.cluster, broker_setup.broker_identity
    for allowed in (
        ("create", "rolebindings", "-n", namespace),
        ("delete", "rolebindings", "-n", namespace),
        ("create", "clusterrolebindings"),
        ("bind", "clusterroles/view"),  # the policy's profiles bind `view`
    ):
        assert can_i(cluster, me, *allowed) == "yes", allowed
    for denied in (
        ("bind", "clusterroles/cluster-admin"),
        ("bind", "clusterroles/edit"),
        ("escalate", "clusterroles/view"),
        ("create", "clusterroles"),
        ("patch", "clusterroles/view"),
        ("create", "roles", "-n", namespace),
        ("get", "secrets", "-n", "kubejit-e2e"),
        ("list", "secrets", "--all-namespaces"),
        ("impersonate", "users"),
        ("impersonate", "groups"),
        ("impersonate", "serviceaccounts"),
    ):
        assert can_i(cluster, me, *denied) == "no", denied

    with in_cluster_client(me) as client:
        made = client.create(binding(namespace, "ClusterRole", "view"))
        assert made.metadata is not None
        assert made.metadata.name is not None
        client.delete(RoleBinding, made.metadata.name, namespace=namespace)
        # RBAC's escalation check: neither bind on these roles nor every permission in them.
        assert refused(lambda: client.create(binding(namespace, "ClusterRole", "cluster-admin"))) == 403
        assert refused(lambda: client.create(binding(namespace, "ClusterRole", "edit"))) == 403
        role = ClusterRole(metadata=ObjectMeta(name=f"t-{uuid.uuid4().hex[:8]}"), rules=[])
        assert refused(lambda: client.create(role)) == 403
        assert refused(lambda: client.patch(ClusterRole, "view", {"metadata": {"labels": {"x": "y"}}})) == 403
        own_role = Role(metadata=ObjectMeta(name="t", namespace=namespace), rules=[PolicyRule(verbs=["get"])])
        assert refused(lambda: client.create(own_role)) == 403
        assert refused(lambda: client.get(Secret, "anything", namespace="kubejit-e2e")) == 403
        assert refused(lambda: list(client.list(Secret, namespace="*"))) == 403

    pods = f"{cluster.server_url}/api/v1/namespaces/{namespace}/pods"
    headers = {"Authorization": f"Bearer {me.token}", "Impersonate-User": "alice"}
    answer = httpx.get(pods, headers=headers, verify=trust_context(cafile=me.directory / "ca.crt"), timeout=10)
    assert answer.status_code == 403
    assert "cannot impersonate" in answer.json()["message"]


@pytest.fixture
def gateway_identity(devcluster: DevCluster, tmp_path: Path) -> InClusterIdentity:
    """The gateway's ServiceAccount in a namespace of its own, bound under a role name of this test's."""
    suffix = uuid.uuid4().hex[:6]
    shared = prepare_gateway(
        devcluster,
        tmp_path / "gateway",
        in_cluster_namespace=f"kubejit-gw-{suffix}",
        role_name=f"kubejit:gateway:{suffix}",
    )
    assert shared.identity is not None
    return shared.identity


def test_the_gateway_may_impersonate_users_and_groups_only(
    devcluster: DevCluster, gateway_identity: InClusterIdentity, namespace: str
) -> None:
    me = gateway_identity
    for allowed in (("impersonate", "users"), ("impersonate", "groups"), ("list", "clusterroles")):
        assert can_i(devcluster, me, *allowed) == "yes", allowed
    for denied in (
        ("impersonate", "serviceaccounts"),
        ("impersonate", "uids"),
        ("impersonate", "userextras/scopes"),
        ("get", "secrets", "-n", namespace),
        ("create", "rolebindings", "-n", namespace),
        ("bind", "clusterroles/view"),
        ("patch", "clusterroles/view"),
    ):
        assert can_i(devcluster, me, *denied) == "no", denied

    pods = f"{devcluster.server_url}/api/v1/namespaces/{namespace}/pods"

    def as_(**impersonate: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {me.token}", **impersonate}
        return httpx.get(pods, headers=headers, verify=trust_context(cafile=me.directory / "ca.crt"), timeout=10)

    # Impersonating alice is allowed; then alice's own RBAC decides (she holds nothing here).
    assert 'User "alice" cannot list' in as_(**{"Impersonate-User": "alice"}).json()["message"]
    impostor = as_(**{"Impersonate-User": "system:serviceaccount:kube-system:default"})
    assert impostor.status_code == 403
    assert 'cannot impersonate resource "serviceaccounts"' in impostor.json()["message"]
    with in_cluster_client(me) as client:
        assert refused(lambda: client.get(Secret, "anything", namespace=namespace)) == 403


def test_the_gateways_proxy_leg_reaches_kube_apiserver_in_cluster(
    gateway_identity: InClusterIdentity, namespace: str
) -> None:
    upstream = upstream_in_cluster(gateway_identity.directory, gateway_identity.environ)

    async def list_pods_as_alice() -> tuple[int, bytes]:
        connection = await upstream.acquire()
        assert upstream.bearer is not None
        headers = [
            (b"host", f"{upstream.host}:{upstream.port}".encode()),
            (b"authorization", f"Bearer {upstream.bearer}".encode()),
            (b"impersonate-user", b"alice"),
        ]
        await connection.send_request(b"GET", f"/api/v1/namespaces/{namespace}/pods".encode(), headers)
        await connection.read_head()
        while not connection.complete:
            await connection.read_more()
        body = connection.take_body()
        connection.close()
        with contextlib.suppress(OSError):  # let TLS close before asyncio.run ends the loop: no socket left to GC
            await connection.writer.wait_closed()
        return connection.status, body

    status, body = asyncio.run(list_pods_as_alice())
    assert status == 403
    assert b'User \\"alice\\" cannot list' in body


def test_a_rotated_token_is_used_at_the_next_request(devcluster: DevCluster, tmp_path: Path) -> None:
    """The kubelet replaces the token file; the client must follow it, not keep the token it started with."""
    suffix = uuid.uuid4().hex[:6]
    namespace = f"kubejit-rotate-{suffix}"
    devcluster.kubectl("create", "namespace", namespace, check=True)
    for name in ("first", "second"):
        devcluster.kubectl("create", "serviceaccount", name, "-n", namespace, check=True)
    me = service_account_identity(devcluster, namespace, "first", tmp_path / "serviceaccount")
    with in_cluster_client(me) as client:
        assert whoami(client) == f"system:serviceaccount:{namespace}:first"
        rotate_token(me, request_token(devcluster, namespace, "second", "10m"))
        assert whoami(client) == f"system:serviceaccount:{namespace}:second"
        rotate_token(me, "no-longer-a-valid-token")
        assert refused(lambda: whoami(client)) == 401
        rotate_token(me, request_token(devcluster, namespace, "first", "10m"))
        assert whoami(client) == f"system:serviceaccount:{namespace}:first"
