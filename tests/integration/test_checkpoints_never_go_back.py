"""Audit checkpoints never go backwards (issue 10, item 3), in the real stores: the ConfigMap (with the broker's
own least-privilege credentials, against the real kube-apiserver) and the file; and the broker's files are
created readable by their owner only (the SQLite database with its WAL files, the signing key)."""

from __future__ import annotations

import hashlib
import json
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kubejit.adapters.kube.checkpoint import ConfigMapCheckpoints, FileCheckpoints, generate_signing_key
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.install import DEFAULT_CHECKPOINT_CONFIGMAP
from kubejit.adapters.store import SqlStore
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.audit import AuditKind, Checkpoint
from kubejit.domain.errors import Refused
from kubejit.domain.policy import AccessPolicy
from tests.conftest import Kubectl


def checkpoint(seq: int) -> Checkpoint:
    return Checkpoint(seq=seq, hash=hashlib.sha256(str(seq).encode()).hexdigest(), at=datetime.now(UTC))


@pytest.fixture(scope="module")
def broker_namespace(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    suffix = uuid.uuid4().hex[:8]
    namespace, role_name = f"kj-ckpt-{suffix}", f"kubejit:broker:ckpt-{suffix}"
    kubeconfig = install_broker_access(
        devcluster,
        AccessPolicy(name="ckpt", profiles=()),
        tmp_path_factory.mktemp("ckpt") / "broker.kubeconfig",
        namespace=namespace,
        role_name=role_name,
    )
    yield namespace, kubeconfig
    devcluster.kubectl("delete", "clusterrolebinding", role_name, "--ignore-not-found")
    devcluster.kubectl("delete", "clusterrole", role_name, "--ignore-not-found")
    devcluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_the_configmap_refuses_to_go_back_and_keeps_its_high_water_mark(
    broker_namespace: tuple[str, Path], kubectl: Kubectl, request: pytest.FixtureRequest
) -> None:
    namespace, kubeconfig = broker_namespace
    client = make_client(kubeconfig)
    request.addfinalizer(client.close)
    store = ConfigMapCheckpoints(
        client,
        namespace=namespace,
        name=DEFAULT_CHECKPOINT_CONFIGMAP,
        signing_key=Ed25519PrivateKey.generate(),
    )
    store.save(checkpoint(7))
    old = kubectl("get", "configmap", DEFAULT_CHECKPOINT_CONFIGMAP, "-n", namespace, "-o", "json").stdout
    store.save(checkpoint(8))
    with pytest.raises(Refused, match="never go back"):
        store.save(checkpoint(7))
    # Someone puts the old, validly signed checkpoint back: the high-water record still says 8.
    old_data = json.loads(old)["data"]
    put_back = {k: v for k, v in old_data.items() if not k.startswith("highWater")}
    kubectl(
        "patch", "configmap", DEFAULT_CHECKPOINT_CONFIGMAP, "-n", namespace, "--type=merge", "-p",
        json.dumps({"data": put_back}),
    )  # fmt: skip
    loaded, mark = store.load(), store.high_water()
    assert loaded is not None
    assert mark is not None
    assert (loaded.seq, mark.seq) == (7, 8)
    assert store.records() == (loaded, mark)  # both from one read
    # A high-water record edited down does not verify (its own header: a checkpoint's signature cannot pass).
    forged = {f"highWater{k[0].upper()}{k[1:]}": v for k, v in old_data.items() if not k.startswith("highWater")}
    kubectl(
        "patch", "configmap", DEFAULT_CHECKPOINT_CONFIGMAP, "-n", namespace, "--type=merge", "-p",
        json.dumps({"data": forged}),
    )  # fmt: skip
    with pytest.raises(Refused, match=r"high-water mark .* does not verify"):
        store.high_water()


def test_the_file_refuses_to_go_back(tmp_path: Path) -> None:
    store = FileCheckpoints(tmp_path / "audit" / "checkpoint.json", Ed25519PrivateKey.generate())
    store.save(checkpoint(3))
    store.save(checkpoint(4))
    with pytest.raises(Refused, match="never go back"):
        store.save(checkpoint(2))
    with pytest.raises(Refused, match="never go back"):
        store.save(Checkpoint(4, "e" * 64, datetime.now(UTC)))  # the same event, another hash: a fork
    mark = store.high_water()
    assert mark is not None
    assert mark.seq == 4
    assert store.records() == (store.load(), mark)
    assert stat.S_IMODE((tmp_path / "audit").stat().st_mode) == 0o700


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_the_key_are_created_readable_by_their_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "data" / "kubejit.db"
    store = SqlStore(f"sqlite:///{database}")
    store.migrate()
    with store() as uow:
        uow.audit.append(kind=AuditKind.POLICY_LOADED, actor="kubejit", at=datetime.now(UTC))
        uow.commit()
        for suffix in ("", "-wal", "-shm"):
            path = database.with_name(database.name + suffix)
            assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"
    store.dispose()
    key = tmp_path / "keys" / "audit.pem"
    generate_signing_key(key)
    assert mode(key) == 0o600
    assert mode(key.parent) == 0o700
