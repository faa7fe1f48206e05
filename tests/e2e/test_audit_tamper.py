"""`kubejit audit verify` catches every kind of tampering with the trail in the database: an edited, deleted,
inserted or reordered event, a truncated tail (through the signed checkpoint kept in a ConfigMap), and an
edited checkpoint. The attacker here has full write access to the database and drops its append-only triggers."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.audit import AuditEvent
from tests.conftest import Kubectl, eventually
from tests.e2e.conftest import Jit, install

Tamper = Callable[[sqlite3.Connection], None]


class TrailLab:
    """A broker with a trail to tamper with, and a way to put the trail back."""

    def __init__(
        self, cluster: DevCluster, broker: BrokerProcess, database: Path, config_map: str, lease_ns: str
    ) -> None:
        self.cluster = cluster
        self.broker = broker
        self.database = database
        self.config_map = config_map
        self.lease_ns = lease_ns
        self.jit = Jit(cluster, broker.url)

    def verify(self) -> tuple[int, dict[str, Any]]:
        result = self.jit("dave", "audit", "verify", "-o", "json", check=False)
        return result.returncode, json.loads(result.stdout)

    def tampered(self, tamper: Tamper) -> tuple[int, dict[str, Any]]:
        with sqlite3.connect(self.database) as db:
            events = db.execute("SELECT * FROM audit_events ORDER BY seq").fetchall()
            head = db.execute("SELECT * FROM audit_head").fetchall()
            triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
            for name, _ in triggers:
                db.execute(f'DROP TRIGGER "{name}"')
            tamper(db)
            db.commit()
        try:
            return self.verify()
        finally:
            with sqlite3.connect(self.database) as db:
                db.execute("DELETE FROM audit_events")
                db.executemany(f"INSERT INTO audit_events VALUES ({','.join('?' * len(events[0]))})", events)
                db.execute("DELETE FROM audit_head")
                db.executemany(f"INSERT INTO audit_head VALUES ({','.join('?' * len(head[0]))})", head)
                for _, create in triggers:
                    db.execute(create)
                db.commit()


@pytest.fixture(scope="module")
def lab(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrailLab]:
    directory = tmp_path_factory.mktemp("audit-lab")
    lease_ns = f"kubejit-audit-{uuid.uuid4().hex[:6]}"
    policy_file, kubeconfig = install(devcluster, directory, namespace=lease_ns, role_name="kubejit:broker:audit")
    config = broker_config(
        devcluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace=lease_ns,
        instance="audit",
        identity="audit-0",
    )
    broker = start_broker(config, log_name="audit-broker")
    trail = TrailLab(devcluster, broker, directory / "kubejit.db", "kubejit-audit-checkpoint", lease_ns)
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    devcluster.kubectl("create", "namespace", namespace, check=True)
    for _ in range(3):
        created = trail.jit.request("alice", "debug", namespace)
        trail.jit("bob", "approve", created["id"])
    trail.jit("alice", "request", "debug", "-n", namespace, "--reason", "INC-2", "--for", "1m")
    assert eventually(lambda: trail.verify()[1]["checkpointSeq"] == trail.verify()[1]["headSeq"], timeout=10)
    yield trail
    broker.stop()


def problem_kinds(report: dict[str, Any]) -> set[str]:
    return {p["kind"] for p in report["problems"]}


def test_the_untouched_trail_verifies(lab: TrailLab) -> None:
    code, report = lab.verify()
    assert code == 0
    assert report["ok"] is True
    assert report["events"] >= 12


def test_an_edited_event_is_detected(lab: TrailLab) -> None:
    code, report = lab.tampered(
        lambda db: db.execute("UPDATE audit_events SET data = ? WHERE seq = 3", ('{"comment":"all fine"}',))
    )
    assert code == 1
    assert problem_kinds(report) == {"edited"}
    assert report["problems"][0]["seq"] == 3


def test_a_deleted_event_is_detected(lab: TrailLab) -> None:
    code, report = lab.tampered(lambda db: db.execute("DELETE FROM audit_events WHERE seq = 4"))
    assert code == 1
    assert {"gap", "broken-link"} <= problem_kinds(report)


def test_an_inserted_event_is_detected(lab: TrailLab) -> None:
    def insert(db: sqlite3.Connection) -> None:
        rows = db.execute("SELECT seq FROM audit_events WHERE seq >= 5 ORDER BY seq DESC").fetchall()
        for (seq,) in rows:
            db.execute("UPDATE audit_events SET seq = ? WHERE seq = ?", (seq + 1, seq))
        at, request_id, previous_hash = db.execute(
            "SELECT at, request_id, hash FROM audit_events WHERE seq = 4"
        ).fetchone()
        # A well-formed event, chained to event 4 and correctly hashed: only the next link can tell.
        forged = AuditEvent(
            5,
            datetime.fromisoformat(at).replace(tzinfo=UTC),
            "grant.activated",
            "mallory",
            request_id,
            {},
            previous_hash,
        )
        db.execute(
            "INSERT INTO audit_events (seq, at, kind, actor, request_id, data, prev_hash, hash) "
            "VALUES (5, ?, ?, ?, ?, '{}', ?, ?)",
            (at, forged.kind, forged.actor, request_id, previous_hash, forged.computed_hash()),
        )

    code, report = lab.tampered(insert)
    assert code == 1
    # The forged event itself is consistent; the renumbered events after it are not (seq is hashed).
    assert {"broken-link", "edited"} <= problem_kinds(report)
    assert min(p["seq"] for p in report["problems"] if p["kind"] == "broken-link") == 6


def test_reordered_events_are_detected(lab: TrailLab) -> None:
    def swap(db: sqlite3.Connection) -> None:
        db.execute("UPDATE audit_events SET seq = 999999 WHERE seq = 6")
        db.execute("UPDATE audit_events SET seq = 6 WHERE seq = 7")
        db.execute("UPDATE audit_events SET seq = 7 WHERE seq = 999999")

    code, report = lab.tampered(swap)
    assert code == 1
    assert problem_kinds(report) & {"edited", "broken-link", "gap"}


def test_a_truncated_tail_is_detected_by_the_checkpoint(lab: TrailLab) -> None:
    def truncate(db: sqlite3.Connection) -> None:
        head = db.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
        db.execute("DELETE FROM audit_events WHERE seq > ?", (head - 3,))
        last = db.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", last)

    code, report = lab.tampered(truncate)
    assert code == 1
    assert problem_kinds(report) == {"truncated"}


def test_an_edited_checkpoint_is_detected(lab: TrailLab, kubectl: Kubectl) -> None:
    original = kubectl("get", "configmap", lab.config_map, "-n", lab.lease_ns, "-o", "json").stdout
    data = json.loads(original)["data"]
    key = "seq"
    assert key in data
    kubectl(
        "patch",
        "configmap",
        lab.config_map,
        "-n",
        lab.lease_ns,
        "--type=merge",
        "-p",
        json.dumps({"data": {key: str(int(data[key]) - 3)}}),
    )
    try:
        code, report = lab.verify()
        assert code == 1
        assert any("checkpoint" in p["message"] for p in report["problems"])
    finally:
        kubectl(
            "patch",
            "configmap",
            lab.config_map,
            "-n",
            lab.lease_ns,
            "--type=merge",
            "-p",
            json.dumps({"data": {key: data[key]}}),
        )
    assert lab.verify()[0] == 0


def test_only_auditors_and_admins_verify(lab: TrailLab) -> None:
    refused = lab.jit("alice", "audit", "verify", check=False)
    assert refused.returncode == 1
    assert "only auditors and admins" in refused.stderr
    assert httpx.get(f"{lab.broker.url}/api/v1/audit/verify").status_code == 401
