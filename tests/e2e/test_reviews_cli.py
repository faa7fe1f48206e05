"""Every review has a command, end to end: the real ``kubejit`` CLI against a real broker process on the real control
plane. An extension and a break-glass use are listed for the approver (``kubejit list --pending``), decided with
``kubejit approve``/``deny`` by a unique start of the id, and kubectl shows the result; ``kubejit kubeconfig``
warns on a grant that is not active yet."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from tests.conftest import Kubectl, eventually
from tests.e2e.conftest import E2E_POLICY, Jit
from tests.e2e.test_broker_flow import can_list_pods

EMERGENCY = """\
    - name: emergency
      clusterRole: view
      namespaces: ["t-*"]
      requesters: {groups: [payments-leads]}
      approval: {approvers: {groups: [payments-leads]}}
      breakGlass: {allowed: {groups: [sre-oncall]}, maxDuration: 20m}
"""


@pytest.fixture(scope="module")
def reviews_broker(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker of its own whose policy adds a break-glass profile to the e2e policy."""
    directory = tmp_path_factory.mktemp("reviews")
    policy_file = directory / "policy.yaml"
    policy_file.write_text(E2E_POLICY + EMERGENCY)
    lease_ns = f"kubejit-reviews-{uuid.uuid4().hex[:6]}"
    kubeconfig = install_broker_access(
        devcluster,
        load_policy_file(policy_file),
        directory / "broker.kubeconfig",
        namespace=lease_ns,
        role_name="kubejit:broker:reviews",
    )
    config = broker_config(
        devcluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace=lease_ns,
        instance="reviews",
        identity="reviews-0",
        gateway={
            "url": "https://127.0.0.1:1",  # no gateway runs: kubejit kubeconfig only needs the broker to name one
            "caFile": str(directory / "dev-ca.crt"),  # written by broker_config
            "signingKeyFile": str(directory / "gateway-signing.key"),
            "clientTokenSha256": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),  # no gateway connects
        },
    )
    broker = start_broker(config, log_name="reviews-broker")
    yield broker
    broker.stop()


@pytest.fixture
def rjit(devcluster: DevCluster, reviews_broker: BrokerProcess) -> Jit:
    return Jit(devcluster, reviews_broker.url)


def _active(jit: Jit, request_id: str) -> bool:
    return bool(jit.json("alice", "get", request_id)["state"] == "active")


def test_an_extension_is_approved_by_command_and_moves_the_end(rjit: Jit, kubectl: Kubectl, namespace: str) -> None:
    created = rjit.request("alice", "debug", namespace, duration="50m", reason="INC-9 slow checkout")
    rjit("bob", "approve", created["id"])
    assert eventually(lambda: _active(rjit, created["id"]), timeout=10)
    before = rjit.json("alice", "get", created["id"])["endsAt"]

    asked = rjit("alice", "extend", created["id"], "--for", "30m", "--reason", "INC-9 still open")
    assert "not extended yet: extension +30m waiting for 1 approval from group payments-leads" in asked.stdout
    listed = rjit("bob", "list", "--pending")
    assert any(created["id"] in line and "extension +30m" in line for line in listed.stdout.splitlines())

    short = created["id"][:12]  # a unique start of the id
    decided = rjit("bob", "approve", short, "--comment", "ok")
    assert "extension approved" in decided.stdout
    after = rjit.json("alice", "get", created["id"])
    assert after["endsAt"] > before
    assert can_list_pods(kubectl, "alice", namespace)
    assert created["id"] not in [r["id"] for r in rjit.json("bob", "list", "--pending")]


def test_an_extension_denied_by_command_keeps_the_end(rjit: Jit, namespace: str) -> None:
    created = rjit.request("alice", "debug", namespace, duration="50m", reason="INC-9 slow checkout")
    rjit("bob", "approve", created["id"])
    assert eventually(lambda: _active(rjit, created["id"]), timeout=10)
    before = rjit.json("alice", "get", created["id"])["endsAt"]
    rjit("alice", "extend", created["id"], "--for", "30m", "--reason", "INC-9 still open")
    denied = rjit.json("carol", "deny", created["id"], "--comment", "wrap it up")
    assert denied["extensions"][-1]["state"] == "denied"
    assert denied["endsAt"] == before


def test_a_break_glass_use_is_reviewed_by_command(rjit: Jit, kubectl: Kubectl, namespace: str) -> None:
    too_long = rjit(
        "carol", "request", "emergency", "-n", namespace, "--break-glass", "--for", "30m", "--reason", "x", check=False
    )
    assert too_long.returncode == 1
    assert "the break-glass limit of profile emergency (breakGlass.maxDuration 20m)" in too_long.stderr
    used = rjit.json(
        "carol", "request", "emergency", "-n", namespace, "--break-glass", "--for", "10m", "--reason", "db"
    )
    assert eventually(lambda: can_list_pods(kubectl, "carol", namespace), timeout=10)
    listed = rjit("bob", "list", "--pending")
    assert any(used["id"] in line and "break-glass review" in line for line in listed.stdout.splitlines())
    assert used["id"] not in rjit("carol", "list", "--pending").stdout

    reviewed = rjit("bob", "deny", used["id"], "--comment", "no incident was open")
    assert "break-glass use of" in reviewed.stdout
    shown = rjit.json("dave", "get", used["id"])
    assert shown["breakGlassReview"]["verdict"] == "deny"
    kinds = [
        json.loads(line)["kind"]
        for line in rjit("dave", "audit", "--grant", used["id"], "-o", "json").stdout.splitlines()
    ]
    assert "grant.break-glass-reviewed" in kinds
    assert used["id"] not in [r["id"] for r in rjit.json("bob", "list", "--pending")]


def test_request_says_who_approves_and_kubeconfig_warns_until_the_grant_is_active(
    rjit: Jit, namespace: str, tmp_path: Path
) -> None:
    asked = rjit("alice", "request", "quorum", "-n", namespace, "--for", "10m", "--reason", "INC-3")
    assert "waiting for 2 approvals from group payments-leads (or an admin): 0 of 2 so far" in asked.stderr
    request_id = next(line.split()[0] for line in asked.stdout.splitlines() if line.startswith("req-"))
    made = rjit("alice", "kubeconfig", "--grant", request_id[:10], "-o", str(tmp_path / "g.kubeconfig"))
    assert f"warning: grant {request_id} is not active yet" in made.stderr
    assert f"kubejit get {request_id}" in made.stderr
    assert request_id in (tmp_path / "g.kubeconfig").read_text()  # the whole id, not the start that was given
    first = rjit("bob", "approve", request_id)
    assert "still pending" in first.stdout
    assert "1 of 2 so far (bob)" in first.stdout
