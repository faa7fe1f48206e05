"""A database row is not a grant: someone who can write the broker's SQLite file inserts an approved request or
widens an active grant (namespaces, groups, end time). None of it becomes access (no RoleBinding in the real
cluster, not in the gateways' grant feed, no grant token) and `kubejit audit verify` fails naming the row. Rows
written before seals existed are sealed at the next start only where the audit chain explains them."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubejit.config import load_config
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.cluster import DevCluster
from tests.conftest import eventually
from tests.e2e.conftest import Jit, install

Document = dict[str, Any]


class TrustLab:
    """A broker with a gateway link, its SQLite file, and the attacker's hands on it."""

    def __init__(self, cluster: DevCluster, config: Path, broker: BrokerProcess, secret: str) -> None:
        self.cluster = cluster
        self.config = config
        self.broker = broker
        self.secret = secret
        self.database = config.parent / "kubejit.db"
        self.jit = Jit(cluster, broker.url)

    def restart(self) -> None:
        self.broker.stop()
        self.broker = start_broker(self.config, log_name="trust-broker")
        self.jit = Jit(self.cluster, self.broker.url)

    # ---- what people and gateways get ------------------------------------------------------------------------

    def can_list_pods(self, user: str, namespace: str) -> bool:
        result = self.cluster.kubectl("auth", "can-i", "list", "pods", "-n", namespace, user=user)
        return result.stdout.strip() == "yes"

    def bindings_of(self, grant_id: str) -> list[str]:
        listed = self.cluster.kubectl(
            "get", "rolebindings", "-A", "-l", f"kubejit.io/grant-id={grant_id}", "-o", "json", check=True
        )
        return [f"{b['metadata']['namespace']}/{b['metadata']['name']}" for b in json.loads(listed.stdout)["items"]]

    def fed_grants(self) -> set[str]:
        answer = httpx.get(
            f"{self.broker.url}/api/v1/gateway/grants", headers={"Authorization": f"Bearer {self.secret}"}, timeout=10
        )
        answer.raise_for_status()
        return {g["id"] for g in answer.json()["grants"]}

    def token_status(self, user: str, grant_id: str) -> int:
        answer = httpx.post(
            f"{self.broker.url}/api/v1/requests/{grant_id}/token",
            headers={"Authorization": f"Bearer {self.cluster.mint_token(user)}"},
            timeout=10,
        )
        return answer.status_code

    def verify(self) -> tuple[int, dict[str, Any], str]:
        as_json = self.jit("dave", "audit", "verify", "-o", "json", check=False)
        as_text = self.jit("dave", "audit", "verify", check=False)
        return as_json.returncode, json.loads(as_json.stdout), as_text.stdout

    # ---- a legitimate grant, and the attacker's edits -------------------------------------------------------

    def active_grant(self, user: str, namespace: str, duration: str = "10m") -> str:
        created = self.jit.request(user, "debug", namespace, duration=duration)
        self.jit("bob", "approve", created["id"])
        assert eventually(lambda: self.can_list_pods(user, namespace), timeout=15)
        assert eventually(lambda: created["id"] in self.fed_grants(), timeout=5)
        return str(created["id"])

    def edit(self, grant_id: str, change: Callable[[Document], None]) -> None:
        """Change a row's document (and the columns that copy it) behind the broker's back; its seal stays."""
        with sqlite3.connect(self.database) as db:
            (text,) = db.execute("SELECT document FROM requests WHERE id = ?", (grant_id,)).fetchone()
            document = json.loads(text)
            change(document)
            ends_at = document["ends_at"]
            column = None if ends_at is None else datetime.fromisoformat(ends_at).strftime("%Y-%m-%d %H:%M:%S.%f")
            db.execute(
                "UPDATE requests SET document = ?, state = ?, ends_at = ?, version = version + 1 WHERE id = ?",
                (json.dumps(document, sort_keys=True), document["state"], column, grant_id),
            )
            db.commit()

    def forge(self, like: str, **fields: Any) -> str:
        """Insert a new row, copied from ``like`` with ``fields`` changed (and a seal copied from it, or none)."""
        forged_id = f"req-{secrets.token_hex(8)}"
        with sqlite3.connect(self.database) as db:
            db.row_factory = sqlite3.Row
            row = dict(db.execute("SELECT * FROM requests WHERE id = ?", (like,)).fetchone())
            document = {**json.loads(row["document"]), "id": forged_id, **fields}
            row.update(id=forged_id, version=1, state=document["state"], document=json.dumps(document, sort_keys=True))
            row["requester"] = document["requester"]["user"]
            row["ends_at"] = None
            db.execute(
                f"INSERT INTO requests ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values())
            )
            db.commit()
        return forged_id


def refused_everywhere(lab: TrustLab, grant_id: str, user: str, namespaces: list[str]) -> None:
    """No access in the cluster, none through the gateway, and verify names the row."""
    time.sleep(1.5)  # several keeper passes (250ms each)
    assert eventually(lambda: not lab.bindings_of(grant_id), timeout=10)
    for namespace in namespaces:
        assert not lab.can_list_pods(user, namespace)
    assert grant_id not in lab.fed_grants()
    assert lab.token_status(user, grant_id) >= 400
    code, report, text = lab.verify()
    assert code == 1
    assert any(p["message"].startswith(f"request {grant_id}:") for p in report["problems"])
    assert grant_id in text


@pytest.fixture(scope="module")
def lab(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrustLab]:
    directory = tmp_path_factory.mktemp("trust-lab")
    lease_ns = f"kubejit-trust-{uuid.uuid4().hex[:6]}"
    policy_file, kubeconfig = install(devcluster, directory, namespace=lease_ns, role_name="kubejit:broker:trust")
    secret = secrets.token_urlsafe(32)
    config = broker_config(
        devcluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace=lease_ns,
        instance="trust",
        identity="trust-0",
        gateway={
            "url": "https://127.0.0.1:1",
            "caFile": str(directory / "dev-ca.crt"),
            "signingKeyFile": str(directory / "gateway-signing.key"),
            "clientTokenSha256": hashlib.sha256(secret.encode()).hexdigest(),
        },
    )
    broker = start_broker(config, log_name="trust-broker")
    trust = TrustLab(devcluster, config, broker, secret)
    yield trust
    trust.broker.stop()


def test_untouched_rows_are_explained_and_honoured(lab: TrustLab, namespace: str) -> None:
    grant_id = lab.active_grant("alice", namespace)
    assert lab.bindings_of(grant_id)
    assert lab.token_status("alice", grant_id) == 200
    code, report, _ = lab.verify()
    assert (code, report["problems"]) == (0, [])
    seal_key = load_config(lab.config).seal_key_file  # beside the audit signing key, apart from the database
    assert seal_key.stat().st_mode & 0o777 == 0o600


def test_a_forged_approved_row_never_becomes_access(lab: TrustLab, namespace: str) -> None:
    pattern = lab.jit.request("alice", "debug", namespace)  # a real pending row to copy the shape from
    reviews = [{"reviewer": "bob", "verdict": "approve", "at": "2026-01-01T00:00:00.000000Z", "comment": ""}]
    forger = {"user": "erin", "groups": ["payments-devs"]}
    unsealed = lab.forge(pattern["id"], state="approved", requester=forger, reviews=reviews)
    with sqlite3.connect(lab.database) as db:
        db.execute("UPDATE requests SET seal = NULL WHERE id = ?", (unsealed,))
        db.commit()
    copied_seal = lab.forge(pattern["id"], state="approved", requester=forger, reviews=reviews)
    for forged in (unsealed, copied_seal):
        refused_everywhere(lab, forged, "erin", [namespace])
        assert lab.jit.json("dave", "get", forged)["state"] == "approved"  # left as found, for the audit
    assert lab.jit("bob", "approve", pattern["id"]).returncode == 0  # the real request is not disturbed


def test_edited_namespaces_are_not_honoured(lab: TrustLab, namespace: str) -> None:
    grant_id = lab.active_grant("alice", namespace)
    other = f"t-{uuid.uuid4().hex[:10]}"
    lab.cluster.kubectl("create", "namespace", other, check=True)
    lab.edit(grant_id, lambda d: d.update(namespaces=[namespace, other]))
    refused_everywhere(lab, grant_id, "alice", [namespace, other])


def test_edited_groups_are_not_honoured(lab: TrustLab, namespace: str) -> None:
    grant_id = lab.active_grant("alice", namespace)
    lab.edit(grant_id, lambda d: d["requester"].update(groups=[*d["requester"]["groups"], "platform-admins"]))
    refused_everywhere(lab, grant_id, "alice", [namespace])


def test_an_extended_end_time_is_not_honoured(lab: TrustLab, namespace: str) -> None:
    grant_id = lab.active_grant("alice", namespace, duration="30s")

    def later(document: Document) -> None:
        ends_at = datetime.fromisoformat(document["ends_at"]) + timedelta(hours=8)
        document["ends_at"] = ends_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    lab.edit(grant_id, later)
    refused_everywhere(lab, grant_id, "alice", [namespace])


def test_rows_from_before_seals_are_sealed_only_where_the_chain_explains_them(lab: TrustLab, namespace: str) -> None:
    kept = lab.active_grant("alice", namespace)
    pattern = lab.jit.request("alice", "debug", namespace)
    forged = lab.forge(pattern["id"], state="approved", requester={"user": "erin", "groups": ["payments-devs"]})
    lab.broker.stop()
    with sqlite3.connect(lab.database) as db:  # as a database from before seals: no row has one
        db.execute("UPDATE requests SET seal = NULL WHERE id IN (?, ?)", (kept, forged))
        db.commit()
    lab.restart()
    with sqlite3.connect(lab.database) as db:
        seals = dict(db.execute("SELECT id, seal FROM requests WHERE id IN (?, ?)", (kept, forged)).fetchall())
    assert seals[kept] is not None
    assert seals[forged] is None
    assert lab.can_list_pods("alice", namespace)
    assert kept in lab.fed_grants()
    assert lab.token_status("alice", kept) == 200
    refused_everywhere(lab, forged, "erin", [namespace])


def test_an_approved_row_put_back_after_revoke_is_not_bound_again(lab: TrustLab, namespace: str) -> None:
    """A seal does not stop a replay: someone who can write the database keeps a copy of the row as the broker
    sealed it when it was approved (a trigger, a backup) and puts it back once the grant was revoked. The keeper
    must not bind it again: the chain says it was activated and revoked since."""
    with sqlite3.connect(lab.database) as db:  # the attacker's trigger: keep every approved row as sealed
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS loot AS SELECT * FROM requests WHERE 0;
            CREATE TRIGGER IF NOT EXISTS keep_approved AFTER UPDATE ON requests WHEN NEW.state = 'approved'
            BEGIN INSERT INTO loot SELECT * FROM requests WHERE id = NEW.id; END;
            """
        )
    grant_id = lab.active_grant("alice", namespace)
    lab.jit("alice", "revoke", grant_id, "--reason", "done")
    assert eventually(lambda: not lab.bindings_of(grant_id), timeout=10)
    with sqlite3.connect(lab.database) as db:
        db.row_factory = sqlite3.Row
        kept = dict(db.execute("SELECT * FROM loot WHERE id = ?", (grant_id,)).fetchone())
        assert kept["state"] == "approved"
        assert kept["seal"]
        columns = [c for c in kept if c != "id"]
        db.execute(
            f"UPDATE requests SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
            [*(kept[c] for c in columns), grant_id],
        )
        db.executescript("DROP TRIGGER keep_approved; DROP TABLE loot;")
    time.sleep(1.5)  # several keeper passes (250ms each)
    assert not lab.bindings_of(grant_id)
    assert not lab.can_list_pods("alice", namespace)
    code, report, _ = lab.verify()
    assert code == 1
    assert any(p["message"].startswith(f"request {grant_id}:") for p in report["problems"])


def test_a_revoke_undone_in_the_database_still_takes_the_access_away(lab: TrustLab, namespace: str) -> None:
    """Someone who can write the database undoes every revoke as it is written (a trigger puts the active row
    back, with its seal): the chain says revoked, the row says active. The keeper goes by the chain."""
    grant_id = lab.active_grant("alice", namespace)
    with sqlite3.connect(lab.database) as db:
        db.executescript(
            """
            CREATE TRIGGER undo_revoke AFTER UPDATE ON requests WHEN NEW.state = 'revoked'
            BEGIN UPDATE requests SET state = OLD.state, document = OLD.document, ends_at = OLD.ends_at,
                seal = OLD.seal, version = OLD.version, unbind_pending = OLD.unbind_pending WHERE id = NEW.id;
            END;
            """
        )
    try:
        lab.jit("alice", "revoke", grant_id, "--reason", "done")
        with sqlite3.connect(lab.database) as db:
            assert db.execute("SELECT state FROM requests WHERE id = ?", (grant_id,)).fetchone() == ("active",)
        assert eventually(lambda: not lab.bindings_of(grant_id), timeout=5)
        assert not lab.can_list_pods("alice", namespace)
        time.sleep(1)  # and it stays away
        assert not lab.bindings_of(grant_id)
    finally:
        with sqlite3.connect(lab.database) as db:
            db.execute("DROP TRIGGER undo_revoke")
