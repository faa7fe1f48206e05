"""The broker's Kubernetes side against a real kube-apiserver, run with the broker's own least-privilege
credentials (from :func:`install_broker_access`), checked from the outside with real kubectl as the dev user.

Grants appear and disappear for alice; roles outside the policy, deleting roles and reading secrets are
forbidden to the broker; a half-applied grant is undone; one Lease holder at a time, fast failover on release,
and a cut-off leader steps down before anyone can take over; signed audit checkpoints detect tampering.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lightkube import ApiError, Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule as KubePolicyRule
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, RoleBinding

from kubejit.adapters.kube.bindings import RbacBindings, binding_name, kube_errors
from kubejit.adapters.kube.checkpoint import (
    ConfigMapCheckpoints,
    FileCheckpoints,
    generate_signing_key,
    load_signing_key,
)
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.install import DEFAULT_CHECKPOINT_CONFIGMAP, DEFAULT_LEASE, inline_role_name
from kubejit.adapters.kube.lease import LeaseElection
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.audit import Checkpoint
from kubejit.domain.errors import Conflict, InvalidInput, NotFound, Refused
from kubejit.domain.policy import (
    AccessPolicy,
    Approval,
    Identity,
    IdentityMapping,
    Profile,
    RoleKind,
    RoleSource,
    Scope,
    Subjects,
)
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.workflow import AccessRequest, State
from tests.conftest import Kubectl, eventually

ALICE = Identity("alice", frozenset({"payments-devs"}))
AS_IS = IdentityMapping()


# ---- set-up: a policy, and the broker's credentials for exactly that policy ------------------------------------


@dataclass(frozen=True)
class Setup:
    policy: AccessPolicy
    view: Profile  # ClusterRole view, namespaced
    nodes: Profile  # inline rules, cluster-wide
    pods: Profile  # Role pod-reader in role_namespace
    role_namespace: str
    broker_namespace: str
    kubeconfig: Path


def _profile(
    name: str, role: RoleSource, *, scope: Scope = Scope.NAMESPACED, namespaces: tuple[str, ...] = ()
) -> Profile:
    return Profile(
        name=name,
        role=role,
        requesters=Subjects(groups=frozenset({"payments-devs"})),
        approval=Approval(approvers=Subjects(groups=frozenset({"payments-leads"}))),
        scope=scope,
        namespaces=namespaces,
    )


@pytest.fixture(scope="module")
def setup(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    suffix = uuid.uuid4().hex[:8]
    role_namespace, broker_namespace = f"kj-role-{suffix}", f"kj-broker-{suffix}"
    devcluster.kubectl("create", "namespace", role_namespace, check=True)
    for role, resource in (("pod-reader", "pods"), ("secret-reader", "secrets")):
        devcluster.kubectl(
            "create", "role", role, "--verb=get,list", f"--resource={resource}", "-n", role_namespace, check=True
        )
    view = _profile("kjtest-view", RoleSource(RoleKind.CLUSTER_ROLE, "view"), namespaces=("t-*", "kj-*"))
    node_rules = (PolicyRule(verbs=("get", "list"), api_groups=("",), resources=("nodes",)),)
    nodes = _profile(f"kjtest-nodes-{suffix}", RoleSource(RoleKind.INLINE, rules=node_rules), scope=Scope.CLUSTER)
    pods = _profile(
        "kjtest-pods", RoleSource(RoleKind.ROLE, "pod-reader", role_namespace), namespaces=(role_namespace,)
    )
    policy = AccessPolicy(name="kube-adapters", profiles=(view, nodes, pods))
    # Own namespace and role names: a broker installed with the defaults elsewhere in the session stays as it is.
    role_name = f"kubejit:broker:test-{suffix}"
    kubeconfig = install_broker_access(
        devcluster,
        policy,
        tmp_path_factory.mktemp("broker") / "broker.kubeconfig",
        namespace=broker_namespace,
        role_name=role_name,
    )
    yield Setup(policy, view, nodes, pods, role_namespace, broker_namespace, kubeconfig)
    devcluster.kubectl("delete", "clusterrolebinding", role_name, "--ignore-not-found")
    devcluster.kubectl("delete", "clusterrole", role_name, inline_role_name(nodes.name), "--ignore-not-found")
    devcluster.kubectl("delete", "namespace", role_namespace, broker_namespace, "--wait=false")


@pytest.fixture(scope="module")
def broker_client(setup: Setup) -> Iterator[Client]:
    client = make_client(setup.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="module")
def admin_client(devcluster: DevCluster) -> Iterator[Client]:
    client = make_client(devcluster.admin_kubeconfig)
    yield client
    client.close()


@pytest.fixture
def broker(broker_client: Client) -> RbacBindings:
    return RbacBindings(broker_client)


@pytest.fixture
def other_namespace(devcluster: DevCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    devcluster.kubectl("create", "namespace", name, check=True)
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false")


def access_request(
    profile: Profile, namespaces: tuple[str, ...] = (), *, reason: str = "INC-1 debugging"
) -> AccessRequest:
    now = datetime.now(UTC)
    return AccessRequest(
        id=f"req-{secrets.token_hex(8)}",
        requester=ALICE,
        profile=profile.name,
        namespaces=namespaces,
        duration=timedelta(minutes=30),
        reason=reason,
        created_at=now,
        state=State.ACTIVE,
        starts_at=now,
        ends_at=now + timedelta(minutes=30),
    )


def ends_in(minutes: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)


def can_i(devcluster: DevCluster, *args: str, user: str = "alice") -> bool:
    result = devcluster.kubectl("auth", "can-i", *args, user=user)
    return result.stdout.strip() == "yes"


def places(refs: list[Any]) -> set[tuple[str, str, str]]:
    return {(ref.kind, ref.namespace, ref.name) for ref in refs}


def grant_bindings(client: Client, grant_id: str) -> list[str]:
    """Every binding labelled with the grant, as the admin sees it."""
    labels: dict[str, Any] = {"kubejit.io/grant-id": grant_id}
    found = [
        f"RoleBinding {b.metadata.namespace}/{b.metadata.name}"
        for b in client.list(RoleBinding, namespace="*", labels=labels)
        if b.metadata
    ]
    found += [
        f"ClusterRoleBinding {b.metadata.name}" for b in client.list(ClusterRoleBinding, labels=labels) if b.metadata
    ]
    return found


# ---- bind / set_end / unbind / managed_bindings ----------------------------------------------------------------


def test_a_namespaced_grant_appears_for_the_user_and_disappears_again(
    devcluster: DevCluster, kubectl: Kubectl, setup: Setup, broker: RbacBindings, namespace: str, other_namespace: str
) -> None:
    request = access_request(setup.view, (namespace, other_namespace), reason="INC-42 " + "x" * 1000)
    name = binding_name(request.id)
    assert not can_i(devcluster, "list", "pods", "-n", namespace)
    ends_at = ends_in(30)
    try:
        refs = broker.bind(request, setup.view, AS_IS, ends_at)
        assert places(refs) == {("RoleBinding", namespace, name), ("RoleBinding", other_namespace, name)}
        assert eventually(
            lambda: (
                can_i(devcluster, "list", "pods", "-n", namespace)
                and can_i(devcluster, "list", "pods", "-n", other_namespace)
            )
        )
        assert not can_i(devcluster, "list", "pods", "-n", setup.role_namespace)  # only where asked
        assert not can_i(devcluster, "get", "secrets", "-n", namespace)  # view does not read secrets
        assert not can_i(devcluster, "list", "pods", "-n", namespace, user="bob")  # only the requester

        assert broker.bind(request, setup.view, AS_IS, ends_at) == refs  # idempotent

        binding = json.loads(kubectl("get", "rolebinding", name, "-n", namespace, "-o", "json").stdout)
        assert binding["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubejit"
        assert binding["metadata"]["labels"]["kubejit.io/grant-id"] == request.id
        annotations = binding["metadata"]["annotations"]
        assert annotations["kubejit.io/ends-at"] == ends_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert annotations["kubejit.io/requester"] == "alice"
        assert annotations["kubejit.io/profile"] == setup.view.name
        assert annotations["kubejit.io/reason"].startswith("INC-42 x")
        assert len(annotations["kubejit.io/reason"]) <= 256
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
        assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]

        managed = [ref for ref in broker.managed_bindings() if ref.grant_id == request.id]
        assert places(managed) == places(refs)
        assert {ref.ends_at for ref in managed} == {ends_at}

        extended = ends_at + timedelta(minutes=15)
        broker.set_end(request.id, extended)
        assert {ref.ends_at for ref in broker.managed_bindings() if ref.grant_id == request.id} == {extended}
    finally:
        deleted = broker.unbind(request.id)
    assert places(deleted) == places(refs)
    assert eventually(
        lambda: (
            not can_i(devcluster, "list", "pods", "-n", namespace)
            and not can_i(devcluster, "list", "pods", "-n", other_namespace)
        )
    )
    assert broker.unbind(request.id) == []  # nothing left is not an error
    assert not [ref for ref in broker.managed_bindings() if ref.grant_id == request.id]
    with pytest.raises(NotFound):
        broker.set_end(request.id, extended)


def test_an_inline_rules_profile_becomes_one_cluster_role_binding(
    devcluster: DevCluster, setup: Setup, broker: RbacBindings
) -> None:
    request = access_request(setup.nodes)
    assert not can_i(devcluster, "list", "nodes")
    try:
        refs = broker.bind(request, setup.nodes, AS_IS, ends_in(10))
        assert places(refs) == {("ClusterRoleBinding", "", binding_name(request.id))}
        assert eventually(lambda: can_i(devcluster, "list", "nodes"))
        assert not can_i(devcluster, "delete", "nodes")
    finally:
        assert places(broker.unbind(request.id)) == places(refs)
    assert eventually(lambda: not can_i(devcluster, "list", "nodes"))


def test_a_role_profile_binds_the_role_in_its_namespace_only(
    devcluster: DevCluster, setup: Setup, broker: RbacBindings, namespace: str
) -> None:
    request = access_request(setup.pods, (setup.role_namespace,))
    try:
        broker.bind(request, setup.pods, AS_IS, ends_in(10))
        assert eventually(lambda: can_i(devcluster, "list", "pods", "-n", setup.role_namespace))
        assert not can_i(devcluster, "list", "secrets", "-n", setup.role_namespace)
    finally:
        broker.unbind(request.id)
    assert eventually(lambda: not can_i(devcluster, "list", "pods", "-n", setup.role_namespace))

    elsewhere = access_request(setup.pods, (setup.role_namespace, namespace))
    with pytest.raises(Refused, match="exists only in namespace"):
        broker.bind(elsewhere, setup.pods, AS_IS, ends_in(10))


def test_the_identity_mapping_prefix_names_the_cluster_user(
    setup: Setup, broker: RbacBindings, admin_client: Client, namespace: str
) -> None:
    request = access_request(setup.view, (namespace,))
    try:
        broker.bind(request, setup.view, IdentityMapping(username_prefix="oidc:"), ends_in(10))
        binding = admin_client.get(RoleBinding, binding_name(request.id), namespace=namespace)
        assert [s.name for s in binding.subjects or []] == ["oidc:alice"]
    finally:
        broker.unbind(request.id)


@pytest.mark.parametrize("grant_id", ["req-XYZ", "kubejit-admin", "req-00,foo=bar", "", "req-" + "a" * 60])
def test_grant_ids_that_are_not_req_hex_are_refused_before_any_call(
    setup: Setup, broker: RbacBindings, namespace: str, grant_id: str
) -> None:
    request = replace(access_request(setup.view, (namespace,)), id=grant_id)
    with pytest.raises(InvalidInput, match="not a grant id"):
        broker.bind(request, setup.view, AS_IS, ends_in(10))
    with pytest.raises(InvalidInput):
        broker.unbind(grant_id)


# ---- least privilege ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["cluster-admin", "edit"])
@pytest.mark.parametrize("scope", [Scope.NAMESPACED, Scope.CLUSTER])
def test_the_broker_cannot_bind_a_cluster_role_outside_the_policy(
    devcluster: DevCluster, broker: RbacBindings, admin_client: Client, namespace: str, role: str, scope: Scope
) -> None:
    namespaces = (namespace,) if scope is Scope.NAMESPACED else ()
    rogue = _profile("rogue", RoleSource(RoleKind.CLUSTER_ROLE, role), scope=scope, namespaces=namespaces)
    request = access_request(rogue, namespaces)
    with pytest.raises(Refused, match="forbidden") as refused:
        broker.bind(request, rogue, AS_IS, ends_in(10))
    assert "the Kubernetes API refused" in str(refused.value)
    assert grant_bindings(admin_client, request.id) == []
    assert not can_i(devcluster, "delete", "pods", "-n", namespace)


def test_the_broker_cannot_bind_a_role_outside_the_policy(
    setup: Setup, broker: RbacBindings, admin_client: Client
) -> None:
    rogue = _profile(
        "rogue-role",
        RoleSource(RoleKind.ROLE, "secret-reader", setup.role_namespace),
        namespaces=(setup.role_namespace,),
    )
    request = access_request(rogue, (setup.role_namespace,))
    with pytest.raises(Refused, match="forbidden"):
        broker.bind(request, rogue, AS_IS, ends_in(10))
    assert grant_bindings(admin_client, request.id) == []


def test_the_broker_cannot_delete_or_change_roles_or_read_secrets(
    setup: Setup, broker_client: Client, admin_client: Client, namespace: str
) -> None:
    victim = f"kjtest-victim-{uuid.uuid4().hex[:8]}"
    admin_client.create(
        ClusterRole(
            metadata=ObjectMeta(name=victim), rules=[KubePolicyRule(verbs=["get"], apiGroups=[""], resources=["pods"])]
        )
    )
    admin_client.create(Secret(metadata=ObjectMeta(name="db", namespace=namespace), stringData={"password": "hunter2"}))
    try:
        with pytest.raises(Refused), kube_errors("delete a ClusterRole"):
            broker_client.delete(ClusterRole, victim)
        assert admin_client.get(ClusterRole, victim).metadata is not None
        inline = inline_role_name(setup.nodes.name)
        with pytest.raises(Refused), kube_errors("widen a profile's ClusterRole"):
            broker_client.patch(
                ClusterRole, inline, {"rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}
            )
        with pytest.raises(Refused), kube_errors("create a ClusterRole"):
            broker_client.create(ClusterRole(metadata=ObjectMeta(name=f"{victim}-2"), rules=[]))
        with pytest.raises(Refused), kube_errors("read a Secret"):
            broker_client.get(Secret, "db", namespace=namespace)
        with pytest.raises(Refused), kube_errors("list Secrets"):
            list(broker_client.list(Secret, namespace=namespace))
    finally:
        admin_client.delete(ClusterRole, victim)


def test_a_missing_role_is_not_found_rather_than_a_binding_that_grants_nothing(
    broker: RbacBindings, admin_client: Client, namespace: str
) -> None:
    ghost = _profile("ghost", RoleSource(RoleKind.CLUSTER_ROLE, "kjtest-no-such-role"), namespaces=(namespace,))
    request = access_request(ghost, (namespace,))
    with pytest.raises(NotFound, match="does not exist"):
        broker.bind(request, ghost, AS_IS, ends_in(10))
    assert grant_bindings(admin_client, request.id) == []


# ---- no half-applied grant ------------------------------------------------------------------------------------


def test_a_grant_with_a_missing_namespace_leaves_no_binding_behind(
    devcluster: DevCluster,
    setup: Setup,
    broker: RbacBindings,
    admin_client: Client,
    namespace: str,
    other_namespace: str,
) -> None:
    missing = f"t-missing-{uuid.uuid4().hex[:8]}"
    request = access_request(setup.view, (namespace, missing, other_namespace))
    with pytest.raises(NotFound, match=missing):
        broker.bind(request, setup.view, AS_IS, ends_in(10))
    assert grant_bindings(admin_client, request.id) == []
    assert not [ref for ref in broker.managed_bindings() if ref.grant_id == request.id]
    assert not can_i(devcluster, "list", "pods", "-n", namespace)


def test_a_binding_of_the_same_name_that_is_not_the_grants_is_a_conflict_and_left_alone(
    kubectl: Kubectl, setup: Setup, broker: RbacBindings, admin_client: Client, namespace: str, other_namespace: str
) -> None:
    request = access_request(setup.view, (namespace, other_namespace))
    name = binding_name(request.id)
    kubectl("create", "rolebinding", name, "--clusterrole=view", "--user=mallory", "-n", other_namespace)
    with pytest.raises(Conflict, match="not managed by kubejit"):
        broker.bind(request, setup.view, AS_IS, ends_in(10))
    assert grant_bindings(admin_client, request.id) == []  # the first namespace's binding was removed again
    foreign = admin_client.get(RoleBinding, name, namespace=other_namespace)
    assert [s.name for s in foreign.subjects or []] == ["mallory"]


def test_a_grants_binding_changed_by_someone_else_is_not_confirmed(
    kubectl: Kubectl, setup: Setup, broker: RbacBindings, admin_client: Client, namespace: str
) -> None:
    request = access_request(setup.view, (namespace,))
    broker.bind(request, setup.view, AS_IS, ends_in(10))
    name = binding_name(request.id)
    patch = json.dumps(
        [
            {
                "op": "add",
                "path": "/subjects/-",
                "value": {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"},
            }
        ]
    )
    kubectl("patch", "rolebinding", name, "-n", namespace, "--type=json", "-p", patch)
    with pytest.raises(Conflict, match="other subjects"):
        broker.bind(request, setup.view, AS_IS, ends_in(10))
    assert grant_bindings(admin_client, request.id) == []  # a failed bind leaves nothing of the grant


# ---- leader election ------------------------------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CuttableClient(Client):
    """A real client whose network can be cut: every call then fails as an unreachable API server would."""

    cut = False

    def _check(self) -> None:
        if self.cut:
            raise httpx2.ConnectError("network cut by the test")

    def get(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return super().get(*args, **kwargs)

    def create(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return super().create(*args, **kwargs)

    def replace(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return super().replace(*args, **kwargs)


def watch_leaders(
    electors: list[LeaseElection], until: Callable[[], bool], *, timeout: float
) -> list[tuple[float, str]]:
    """Sample who claims leadership every few ms until ``until()``; fail if two ever claim it at once."""
    changes: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    while True:
        leaders = [e.identity for e in electors if e.is_leader()]
        assert len(leaders) <= 1, f"two leaders at once: {leaders}"
        current = leaders[0] if leaders else ""
        if not changes or changes[-1][1] != current:
            changes.append((time.monotonic(), current))
        if until():
            return changes
        assert time.monotonic() < deadline, f"timed out; leadership changes: {changes}"
        time.sleep(0.005)


def test_one_leader_at_a_time_and_release_hands_over_within_two_rounds(
    setup: Setup, broker_client: Client, admin_client: Client
) -> None:
    renew = 0.25
    changes: dict[str, list[bool]] = {"a": [], "b": []}

    def elector(identity: str) -> LeaseElection:
        return LeaseElection(
            broker_client,  # the broker's own RBAC: get/update on its Lease by name, create
            namespace=setup.broker_namespace,
            name=DEFAULT_LEASE,
            identity=identity,
            lease_duration=timedelta(seconds=3),
            renew_interval=timedelta(seconds=renew),
            on_change=changes[identity].append,
        )

    a, b = elector("a"), elector("b")
    a.start()
    b.start()
    try:
        watch_leaders([a, b], lambda: a.is_leader() or b.is_leader(), timeout=10)
        settled = time.monotonic() + 1.5  # several renewals: the same single leader throughout
        history = watch_leaders([a, b], lambda: time.monotonic() > settled, timeout=5)
        assert len(history) == 1, history
        assert history[0][1] in ("a", "b")
        leader, follower = (a, b) if a.is_leader() else (b, a)

        started = time.monotonic()
        leader.stop()
        assert not leader.is_leader()
        watch_leaders([a, b], follower.is_leader, timeout=5)
        handover = time.monotonic() - started
        assert handover < 2 * renew + 0.5, f"failover took {handover:.2f}s"
        lease = admin_client.get(Lease, DEFAULT_LEASE, namespace=setup.broker_namespace)
        assert lease.spec is not None
        assert lease.spec.holderIdentity == follower.identity
        assert (lease.spec.leaseTransitions or 0) >= 1
        assert changes[leader.identity] == [True, False]
        assert changes[follower.identity] == [True]
    finally:
        a.stop()
        b.stop()
    lease = admin_client.get(Lease, DEFAULT_LEASE, namespace=setup.broker_namespace)
    assert lease.spec is not None
    assert lease.spec.holderIdentity == ""
    admin_client.delete(Lease, DEFAULT_LEASE, namespace=setup.broker_namespace)


def test_a_leader_that_cannot_renew_steps_down_before_anyone_can_take_over(
    devcluster: DevCluster, admin_client: Client, namespace: str
) -> None:
    cuttable = CuttableClient(config=KubeConfig.from_file(str(devcluster.admin_kubeconfig)))
    duration, renew, margin = 3.0, 0.2, 0.6
    lost: list[bool] = []

    def elector(client: Client, identity: str, on_change: Callable[[bool], None] | None = None) -> LeaseElection:
        return LeaseElection(
            client,
            namespace=namespace,
            name="partition",
            identity=identity,
            lease_duration=timedelta(seconds=duration),
            renew_interval=timedelta(seconds=renew),
            safety_margin=timedelta(seconds=margin),
            on_change=on_change,
        )

    a, b = elector(cuttable, "a", lost.append), elector(admin_client, "b")
    a.start()
    try:
        assert eventually(a.is_leader, timeout=10)
        b.start()
        watched = time.monotonic() + 3 * renew  # b sees a renew a few times and stays a follower
        assert [who for _, who in watch_leaders([a, b], lambda: time.monotonic() > watched, timeout=5)] == ["a"]

        cuttable.cut = True
        cut_at = time.monotonic()
        history = watch_leaders([a, b], b.is_leader, timeout=15)
        # a alone, then nobody (a stepped down by itself), then b.
        assert [who for _, who in history] == ["a", "", "b"], history
        a_lost, b_won = history[1][0], history[2][0]
        assert a_lost - cut_at <= duration - margin + 0.2, "a kept claiming leadership after its renewals lapsed"
        assert b_won - a_lost >= margin / 2, f"b took over only {b_won - a_lost:.2f}s after a stepped down"
        assert lost == [True, False]  # a was told it lost leadership
    finally:
        a.stop()  # cannot release (cut): must not raise
        b.stop()
        cuttable.close()


def test_lease_timing_under_a_fake_clock(admin_client: Client, namespace: str) -> None:
    """Leadership lapses on the local clock alone; a challenger waits a full lease duration after last seeing
    the holder's record change, whatever the wall clocks say."""
    clock_a, clock_b = FakeMonotonic(), FakeMonotonic()
    options: dict[str, Any] = {
        "namespace": namespace,
        "name": "fake-clock",
        "lease_duration": timedelta(seconds=10),
        "renew_interval": timedelta(seconds=1),
        "safety_margin": timedelta(seconds=2),
    }
    a = LeaseElection(admin_client, identity="a", monotonic=clock_a, **options)
    b = LeaseElection(admin_client, identity="b", monotonic=clock_b, **options)

    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock_a.now += 7.9
    assert a.is_leader()
    clock_a.now += 0.2  # 8.1s since the write was sent: past duration - margin, no API call needed to know
    assert not a.is_leader()

    clock_b.now += 9.9
    assert not b.try_acquire_or_renew()  # the record is unchanged, but not yet for a full duration
    clock_b.now += 0.2
    assert b.try_acquire_or_renew()  # takes over
    assert not a.try_acquire_or_renew()  # a sees b's record and stays down
    lease = admin_client.get(Lease, "fake-clock", namespace=namespace)
    assert lease.spec is not None
    assert (lease.spec.holderIdentity, lease.spec.leaseTransitions, lease.spec.leaseDurationSeconds) == ("b", 1, 10)
    assert lease.spec.acquireTime is not None
    assert lease.spec.renewTime is not None

    clock_b.now += 5
    assert b.try_acquire_or_renew()  # renewing keeps it
    b.stop()  # releases: a need not wait
    assert a.try_acquire_or_renew()
    lease = admin_client.get(Lease, "fake-clock", namespace=namespace)
    assert lease.spec is not None
    assert (lease.spec.holderIdentity, lease.spec.leaseTransitions) == ("a", 2)


def test_lease_settings_that_would_lapse_between_renewals_are_refused(admin_client: Client) -> None:
    with pytest.raises(InvalidInput, match="renew_interval"):
        LeaseElection(
            admin_client,
            namespace="x",
            name="x",
            identity="a",
            lease_duration=timedelta(seconds=15),
            renew_interval=timedelta(seconds=10),
        )


# ---- audit checkpoints ----------------------------------------------------------------------------------------


def checkpoint(seq: int) -> Checkpoint:
    return Checkpoint(seq=seq, hash=hashlib.sha256(str(seq).encode()).hexdigest(), at=datetime.now(UTC))


@pytest.fixture
def configmap_store(setup: Setup, broker_client: Client, admin_client: Client) -> Iterator[ConfigMapCheckpoints]:
    """The checkpoint ConfigMap the broker's RBAC names, empty at the start of each test."""

    def remove() -> None:
        try:
            admin_client.delete(ConfigMap, DEFAULT_CHECKPOINT_CONFIGMAP, namespace=setup.broker_namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise

    remove()
    yield ConfigMapCheckpoints(
        broker_client,
        namespace=setup.broker_namespace,
        name=DEFAULT_CHECKPOINT_CONFIGMAP,
        signing_key=Ed25519PrivateKey.generate(),
    )
    remove()


def test_configmap_checkpoints_round_trip(configmap_store: ConfigMapCheckpoints) -> None:
    assert configmap_store.load() is None
    first, second = checkpoint(7), checkpoint(8)
    configmap_store.save(first)
    assert configmap_store.load() == first
    configmap_store.save(second)
    assert configmap_store.load() == second


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", "6"), ("hash", "f" * 64), ("at", "2020-01-01T00:00:00.000000Z"), ("signature", "AAAA")],
)
def test_an_edited_configmap_checkpoint_is_refused(
    kubectl: Kubectl, setup: Setup, configmap_store: ConfigMapCheckpoints, field: str, value: str
) -> None:
    configmap_store.save(checkpoint(7))
    patch = json.dumps({"data": {field: value}})
    kubectl(
        "patch", "configmap", DEFAULT_CHECKPOINT_CONFIGMAP, "-n", setup.broker_namespace, "--type=merge", "-p", patch
    )
    with pytest.raises(Refused, match=r"audit checkpoint in ConfigMap .* (does not verify|malformed)"):
        configmap_store.load()


def test_a_checkpoint_signed_by_another_key_is_refused(
    setup: Setup, broker_client: Client, configmap_store: ConfigMapCheckpoints
) -> None:
    configmap_store.save(checkpoint(3))
    other = ConfigMapCheckpoints(
        broker_client,
        namespace=setup.broker_namespace,
        name=DEFAULT_CHECKPOINT_CONFIGMAP,
        signing_key=Ed25519PrivateKey.generate(),
    )
    with pytest.raises(Refused, match="not this broker's"):
        other.load()


def test_file_checkpoints_round_trip_and_detect_edits(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    store = FileCheckpoints(tmp_path / "audit" / "checkpoint.json", key)
    assert store.load() is None
    store.save(checkpoint(1))
    saved = checkpoint(2)
    store.save(saved)
    assert store.load() == saved
    path = tmp_path / "audit" / "checkpoint.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.json"]  # no temporary file left

    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "seq": "1"}))
    with pytest.raises(Refused, match="does not verify"):
        store.load()
    path.write_text("not json")
    with pytest.raises(Refused, match="altered or replaced"):
        store.load()


def test_signing_keys_are_generated_private_and_loaded_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    key = generate_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert load_signing_key(path).public_key().public_bytes(*raw) == key.public_key().public_bytes(*raw)
    with pytest.raises(InvalidInput, match="already exists"):
        generate_signing_key(path)

    ec_path = tmp_path / "ec.pem"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_path.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(InvalidInput, match="not an Ed25519 key"):
        load_signing_key(ec_path)

    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidInput) as refused:
        load_signing_key(garbled)
    assert "c2VjcmV0" not in str(refused.value)
    assert re.search(r"does not hold an unencrypted PEM private key", str(refused.value))
