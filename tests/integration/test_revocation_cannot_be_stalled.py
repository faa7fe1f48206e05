"""Revocation cannot be stalled (issue 10, item 2): the keeper's passes against the real kube-apiserver, run
with the broker's own least-privilege credentials, on a real database (SQLite, and PostgreSQL for the query).

- A RoleBinding planted with kubejit's labels but no grant of its own (a garbage grant id, or a name that is
  not the one kubejit gives a grant's bindings) does not stop the sweep: it is removed and reported, the real
  leftovers are removed too, an active grant's binding stays, and a binding labelled for another installation
  is left alone.
- A revoke recorded long ago (say on a standby replica) is found however many newer revoked requests exist.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubejit.adapters.clock import SystemClock
from kubejit.adapters.kube.bindings import RbacBindings
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.store import SqlStore
from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.audit import AuditKind
from kubejit.domain.policy import (
    AccessPolicy,
    Approval,
    Identity,
    IdentityMapping,
    Profile,
    RoleKind,
    RoleSource,
    Subjects,
)
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import Notification
from kubejit.services.reconciler import GrantReconciler
from tests.conftest import Kubectl

ALICE = Identity("alice", frozenset({"payments-devs"}))
VIEW = Profile(
    name="stall-view",
    role=RoleSource(RoleKind.CLUSTER_ROLE, "view"),
    requesters=Subjects(groups=frozenset({"payments-devs"})),
    approval=Approval(approvers=Subjects(groups=frozenset({"payments-leads"}))),
    namespaces=("t-*",),
)
POLICY = AccessPolicy(name="stall", profiles=(VIEW,))


class Leading:
    def is_leader(self) -> bool:
        return True


class Silent:
    def notify(self, notification: Notification) -> None:
        return None


@dataclass
class Lab:
    bindings: RbacBindings
    instance: str
    namespace: str


@pytest.fixture(scope="module")
def access(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    suffix = uuid.uuid4().hex[:8]
    broker_namespace, role_name = f"kj-stall-{suffix}", f"kubejit:broker:stall-{suffix}"
    kubeconfig = install_broker_access(
        devcluster,
        POLICY,
        tmp_path_factory.mktemp("stall") / "broker.kubeconfig",
        namespace=broker_namespace,
        role_name=role_name,
    )
    yield kubeconfig
    devcluster.kubectl("delete", "clusterrolebinding", role_name, "--ignore-not-found")
    devcluster.kubectl("delete", "clusterrole", role_name, "--ignore-not-found")
    devcluster.kubectl("delete", "namespace", broker_namespace, "--wait=false")


@pytest.fixture
def lab(access: Path, namespace: str) -> Iterator[Lab]:
    client = make_client(access)
    instance = f"stall-{uuid.uuid4().hex[:6]}"
    yield Lab(RbacBindings(client, instance=instance), instance, namespace)
    client.close()


def keeper(store: SqlStore, lab: Lab) -> GrantReconciler:
    return GrantReconciler(lambda: POLICY, store, lab.bindings, SystemClock(), Leading(), Silent())


def active(namespace: str, *, created: datetime | None = None) -> AccessRequest:
    now = datetime.now(UTC)
    return AccessRequest(
        id=f"req-{secrets.token_hex(8)}",
        requester=ALICE,
        profile=VIEW.name,
        namespaces=(namespace,),
        duration=timedelta(minutes=30),
        reason="INC-10",
        created_at=created or now,
        state=State.ACTIVE,
        starts_at=now,
        ends_at=now + timedelta(minutes=30),
    )


def bound(lab: Lab, request: AccessRequest) -> AccessRequest:
    lab.bindings.bind(request, VIEW, IdentityMapping(), request.ends_at or datetime.now(UTC))
    return request


def revoked(request: AccessRequest) -> AccessRequest:
    now = datetime.now(UTC)
    return replace(request, state=State.REVOKED, ends_at=now, ended_at=now, ended_by="alice", end_reason="done")


def plant(kubectl: Kubectl, namespace: str, name: str, labels: dict[str, str]) -> None:
    kubectl("create", "rolebinding", name, "--clusterrole=view", "--user=mallory", "-n", namespace)
    kubectl("label", "rolebinding", name, "-n", namespace, *(f"{k}={v}" for k, v in labels.items()))


def rolebindings(kubectl: Kubectl, namespace: str) -> set[str]:
    names = kubectl("get", "rolebindings", "-n", namespace, "-o", "name").stdout.split()
    return {name.removeprefix("rolebinding.rbac.authorization.k8s.io/") for name in names}


def kinds(store: SqlStore) -> list[str]:
    with store(read_only=True) as uow:
        return [event.kind for event in uow.audit.events()]


def test_a_planted_binding_does_not_stop_the_sweep(lab: Lab, kubectl: Kubectl, tmp_path: Path) -> None:
    # Sealed by the broker's key, as the broker writes them: a row without a seal is no grant (issue 10, item 1).
    store = SqlStore(f"sqlite:///{tmp_path / 'kubejit.db'}", seal_key=load_or_create_seal_key(tmp_path / "seal.key"))
    store.migrate()
    ours = {"app.kubernetes.io/managed-by": "kubejit", "kubejit.io/instance": lab.instance}
    grant = bound(lab, active(lab.namespace))
    leftover = bound(lab, active(lab.namespace))  # a binding whose grant kubejit has no record of
    with store() as uow:
        uow.requests.add(grant)
        uow.commit()
    # Sorted before any real grant id, so the old sweep met it first and stopped there.
    plant(kubectl, lab.namespace, "aaa-planted", {**ours, "kubejit.io/grant-id": "not-a-grant"})
    plant(kubectl, lab.namespace, "sneaky", {**ours, "kubejit.io/grant-id": grant.id})  # rides on an active grant
    plant(
        kubectl,
        lab.namespace,
        "other-install",
        {**ours, "kubejit.io/instance": "elsewhere", "kubejit.io/grant-id": "x"},
    )

    reconciler = keeper(store, lab)
    reconciler.sweep()

    left = rolebindings(kubectl, lab.namespace)
    assert f"kubejit-{leftover.id}" not in left, "the real leftover was not swept"
    assert "aaa-planted" not in left
    assert "sneaky" not in left
    assert f"kubejit-{grant.id}" in left, "the active grant's own binding must stay"
    assert "other-install" in left, "a binding labelled for another installation must be left alone"
    assert reconciler.stats.unrecognized == 2
    events = kinds(store)
    assert events.count(AuditKind.BINDING_UNRECOGNIZED) == 2
    assert AuditKind.BINDING_SWEPT in events
    with store(read_only=True) as uow:
        reported = [e.data for e in uow.audit.events() if e.kind == AuditKind.BINDING_UNRECOGNIZED]
    assert {d["grantIdLabel"] for d in reported} == {"not-a-grant", grant.id}
    assert all(d["deleted"] for d in reported)
    lab.bindings.unbind(grant.id)
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'kubejit.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
    store = SqlStore(url, seal_key=load_or_create_seal_key(tmp_path / "seal.key"))
    store.migrate()
    yield store
    store.dispose()


def test_an_old_revoke_is_not_hidden_by_a_hundred_newer_ones(lab: Lab, kubectl: Kubectl, store: SqlStore) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=1)
    old = bound(lab, active(lab.namespace, created=long_ago))
    with store() as uow:
        uow.requests.add(old)
        uow.commit()
    with store() as uow:  # revoked on a standby replica: the leader was not woken
        uow.requests.update(revoked(old), 1)
        uow.commit()
    for _ in range(105):  # people ending their own grants early, all created after the old one
        newer = active(lab.namespace)
        with store() as uow:
            uow.requests.add(newer)
            uow.requests.update(revoked(newer), 1)
            uow.commit()
    assert f"kubejit-{old.id}" in rolebindings(kubectl, lab.namespace)

    reconciler = keeper(store, lab)
    reconciler.unbind_ended()

    assert f"kubejit-{old.id}" not in rolebindings(kubectl, lab.namespace)
    with store(read_only=True) as uow:
        assert uow.requests.awaiting_unbind() == []
        deleted = [e for e in uow.audit.events() if e.kind == AuditKind.BINDING_DELETED]
    assert [e.request_id for e in deleted] == [old.id]
    assert reconciler.unbind_ended() == 0  # confirmed: not looked at again
