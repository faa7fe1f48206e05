"""Audit checkpoints never go backwards, with a real `kubejit serve` against the dev control plane (issue 10,
item 3): the attacker can write the broker's database and the checkpoint ConfigMap.

- The trail's tail cut off and the checkpoint deleted: the running broker does not write a fresh checkpoint
  over the shorter trail, verify fails, and a restarted broker refuses to start until the operator runs
  `kubejit audit checkpoint --init`.
- An older, validly signed checkpoint put back: verify reports a rollback.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kubejit.devcluster.broker import broker_config, start_broker, start_kubejit
from kubejit.devcluster.cluster import DevCluster
from tests.conftest import Kubectl, eventually
from tests.e2e.conftest import Jit, install

KUBEJIT = str(Path(sys.executable).parent / "kubejit")
CONFIG_MAP = "kubejit-audit-checkpoint"


def verify(jit: Jit) -> tuple[int, dict[str, Any]]:
    result = jit("dave", "audit", "verify", "-o", "json", check=False)
    return result.returncode, json.loads(result.stdout)


def kinds(report: dict[str, Any]) -> set[str]:
    return {p["kind"] for p in report["problems"]}


def configmap(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    data: dict[str, str] = json.loads(kubectl("get", "configmap", CONFIG_MAP, "-n", namespace, "-o", "json").stdout)[
        "data"
    ]
    return data


def installed_broker(devcluster: DevCluster, tmp_path: Path, name: str) -> tuple[str, Path]:
    """The broker's RBAC installed in a fresh namespace, and its config: (that namespace, the config file)."""
    lease_ns = f"kubejit-{name}-{uuid.uuid4().hex[:6]}"
    policy_file, kubeconfig = install(devcluster, tmp_path, namespace=lease_ns, role_name=f"kubejit:broker:{name}")
    config = broker_config(
        devcluster, tmp_path, policy_file=policy_file, broker_kubeconfig=kubeconfig, namespace=lease_ns,
        instance=name, identity=f"{name}-0",
    )  # fmt: skip
    return lease_ns, config


def truncate(database: Path, keep: int) -> None:
    with sqlite3.connect(database) as db:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        db.execute("DELETE FROM audit_events WHERE seq > ?", (keep,))
        db.execute("UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_events WHERE seq = ?)", (keep, keep))
        db.commit()


def test_a_truncated_trail_with_its_checkpoint_deleted_is_not_signed_again(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    lease_ns, config = installed_broker(devcluster, tmp_path, "rollback")
    broker = start_broker(config, log_name="rollback-broker")
    jit = Jit(devcluster, broker.url)
    try:
        for _ in range(3):
            jit("bob", "approve", jit.request("alice", "debug", namespace)["id"])
        assert eventually(lambda: verify(jit)[1]["checkpointSeq"] == verify(jit)[1]["headSeq"], timeout=10)
        code, report = verify(jit)
        assert code == 0, report

        truncate(tmp_path / "kubejit.db", keep=report["headSeq"] - 4)
        kubectl("delete", "configmap", CONFIG_MAP, "-n", lease_ns)
        jit("alice", "request", "debug", "-n", namespace, "--reason", "INC-3", "--for", "1m")  # the chain moves on
        time.sleep(6)  # more than the checkpointer's period: it had its chance to write a fresh checkpoint
        absent = kubectl("get", "configmap", CONFIG_MAP, "-n", lease_ns, check=False)
        assert absent.returncode != 0, "a fresh checkpoint was written over the shortened trail"
        code, report = verify(jit)
        assert code == 1
        assert {"rollback", "truncated"} <= kinds(report)
    finally:
        broker.stop()

    refused = start_kubejit("serve", config, "rollback-refused")
    assert eventually(lambda: refused.exit_code() is not None, timeout=30), "the broker started on the trail"
    assert refused.exit_code() != 0
    assert "checkpoint --init" in refused.tail()

    init = subprocess.run(
        [KUBEJIT, "audit", "checkpoint", "--init", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert init.returncode == 0, init.stderr
    assert "signed the first audit checkpoint" in init.stdout
    broker = start_broker(config, log_name="rollback-broker-2")
    try:
        code, report = verify(Jit(devcluster, broker.url))
        # The operator's --init accepts the shortened trail as where checkpoints start again: no checkpoint problem
        # is left. The requests whose events were cut stay named, since the chain no longer explains their rows.
        assert not {"rollback", "truncated", "stale-checkpoint"} & kinds(report), report
        assert all(str(p["message"]).startswith("request ") for p in report["problems"]), report
        assert code == (1 if report["problems"] else 0)
    finally:
        broker.stop()


def test_an_old_signed_checkpoint_put_back_is_a_rollback(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    lease_ns, config = installed_broker(devcluster, tmp_path, "putback")
    broker = start_broker(config, log_name="putback-broker")
    jit = Jit(devcluster, broker.url)
    try:
        jit("bob", "approve", jit.request("alice", "debug", namespace)["id"])
        assert eventually(lambda: verify(jit)[1]["checkpointSeq"] == verify(jit)[1]["headSeq"], timeout=10)
        old = configmap(kubectl, lease_ns)
        jit("bob", "approve", jit.request("alice", "debug", namespace)["id"])
        assert eventually(lambda: configmap(kubectl, lease_ns)["seq"] != old["seq"], timeout=10)
        put_back = {k: v for k, v in old.items() if not k.startswith("highWater")}
        patch = json.dumps({"data": put_back})
        kubectl("patch", "configmap", CONFIG_MAP, "-n", lease_ns, "--type=merge", "-p", patch)
        code, report = verify(jit)
        assert code == 1
        assert "rollback" in kinds(report)
        text = jit("dave", "audit", "verify", check=False).stdout
        assert "the checkpoint went backwards" in text
    finally:
        broker.stop()
