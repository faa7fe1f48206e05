"""The broker end to end, as people use it: real `kubejit` CLI, real broker process, real kube-apiserver, and
real kubectl showing that access appears on approval and disappears at the end, on revoke and never without
approval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import Kubectl, eventually
from tests.e2e.conftest import BrokerSetup, Jit


def can_list_pods(kubectl: Kubectl, user: str, namespace: str) -> bool:
    return kubectl("auth", "can-i", "list", "pods", "-n", namespace, user=user, check=False).stdout.strip() == "yes"


def test_full_flow_request_approve_use_expire(
    jit: Jit, kubectl: Kubectl, namespace: str, broker_setup: BrokerSetup
) -> None:
    assert not can_list_pods(kubectl, "alice", namespace)
    created = jit.request("alice", "debug", namespace, duration="4s", reason="INC-7 checkout errors")
    assert created["state"] == "pending"
    assert not can_list_pods(kubectl, "alice", namespace)  # nothing before approval

    pending = jit.json("bob", "list", "--pending")
    assert created["id"] in [r["id"] for r in pending]
    approved = jit.json("bob", "approve", created["id"], "--comment", "go ahead")
    assert approved["state"] == "approved"

    assert eventually(lambda: can_list_pods(kubectl, "alice", namespace), timeout=10)
    assert kubectl("get", "pods", "-n", namespace, user="alice").returncode == 0
    grant = jit.json("alice", "get", created["id"])
    assert grant["state"] == "active"
    assert not can_list_pods(kubectl, "alice", "kube-system")  # only where it was granted

    assert eventually(lambda: not can_list_pods(kubectl, "alice", namespace), timeout=15)
    assert eventually(lambda: jit.json("alice", "get", created["id"])["state"] == "expired", timeout=5)
    kinds = [
        e["kind"]
        for e in json.loads(
            "[" + ",".join(jit("dave", "audit", "--grant", created["id"], "-o", "json").stdout.splitlines()) + "]"
        )
    ]
    assert kinds == [
        "request.submitted",
        "request.approved",
        "request.quorum-reached",
        "binding.created",
        "grant.activated",
        "binding.deleted",
        "grant.expired",
    ]
    assert eventually(
        lambda: (
            {"request.pending", "request.approved", "grant.active", "grant.ended"}
            <= set(broker_setup.sink.events_for(created["id"]))
        ),
        timeout=10,
    )


def test_self_approval_is_refused(jit: Jit, namespace: str) -> None:
    created = jit.request("bob", "debug", namespace)
    refused = jit("bob", "approve", created["id"], check=False)
    assert refused.returncode == 1
    assert "cannot review their own request" in refused.stderr
    assert jit.json("bob", "get", created["id"])["state"] == "pending"


def test_quorum_of_two_distinct_approvers(jit: Jit, kubectl: Kubectl, namespace: str) -> None:
    created = jit.request("alice", "quorum", namespace)
    assert jit.json("bob", "approve", created["id"])["state"] == "pending"
    again = jit("bob", "approve", created["id"], check=False)
    assert again.returncode == 1
    assert "already reviewed" in again.stderr
    assert not can_list_pods(kubectl, "alice", namespace)
    assert jit.json("carol", "approve", created["id"])["state"] == "approved"
    assert eventually(lambda: can_list_pods(kubectl, "alice", namespace), timeout=10)


def test_a_denial_ends_the_request(jit: Jit, kubectl: Kubectl, namespace: str) -> None:
    created = jit.request("alice", "quorum", namespace)
    jit("bob", "approve", created["id"])
    usage = jit("carol", "deny", created["id"], check=False)
    assert usage.returncode == 2  # a denial needs a comment
    denied = jit.json("carol", "deny", created["id"], "--comment", "not during the freeze")
    assert denied["state"] == "denied"
    assert jit("erin", "approve", created["id"], check=False).returncode == 1
    assert not can_list_pods(kubectl, "alice", namespace)


def test_auto_approve_for_oncall(jit: Jit, kubectl: Kubectl, namespace: str) -> None:
    created = jit.request("carol", "oncall", namespace)
    assert created["state"] == "approved"
    assert created["autoApproved"] is True
    assert eventually(lambda: can_list_pods(kubectl, "carol", namespace), timeout=10)
    assert jit.request("alice", "oncall", namespace)["state"] == "pending"  # not on call: needs review


def test_early_revoke_takes_access_away(jit: Jit, kubectl: Kubectl, namespace: str) -> None:
    created = jit.request("alice", "debug", namespace)
    jit("bob", "approve", created["id"])
    assert eventually(lambda: can_list_pods(kubectl, "alice", namespace), timeout=10)
    assert jit("dave", "revoke", created["id"], check=False).returncode == 1  # auditors cannot revoke
    revoked = jit.json("alice", "revoke", created["id"], "--reason", "done early")
    assert revoked["state"] == "revoked"
    assert eventually(lambda: not can_list_pods(kubectl, "alice", namespace), timeout=10)


def test_extend_needs_approval_and_moves_the_end(jit: Jit, kubectl: Kubectl, namespace: str) -> None:
    created = jit.request("alice", "debug", namespace, duration="50m")
    jit("bob", "approve", created["id"])
    assert eventually(lambda: jit.json("alice", "get", created["id"])["state"] == "active", timeout=10)
    before = jit.json("alice", "get", created["id"])["endsAt"]
    too_long = jit("alice", "extend", created["id"], "--for", "2h", "--reason", "INC-7", check=False)
    assert too_long.returncode == 1
    assert "extend by 1h10m at most" in too_long.stderr
    asked = jit.json("alice", "extend", created["id"], "--for", "30m", "--reason", "INC-7 still open")
    assert asked["endsAt"] == before
    token = jit.cluster.mint_token("bob")
    reviewed = httpx.post(
        f"{jit.server}/api/v1/requests/{created['id']}/extension/approve",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["endsAt"] > before
    assert can_list_pods(kubectl, "alice", namespace)


def test_racing_approvers_make_exactly_one_grant(jit: Jit, kubectl: Kubectl, namespace: str) -> None:
    created = jit.request("alice", "debug", namespace)
    results: dict[str, int] = {}

    def approve(user: str) -> None:
        token = jit.cluster.mint_token(user)
        response = httpx.post(
            f"{jit.server}/api/v1/requests/{created['id']}/approve",
            json={"comment": user},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        results[user] = response.status_code

    threads = [threading.Thread(target=approve, args=(user,)) for user in ("bob", "carol")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [200, 409]
    request = jit.json("alice", "get", created["id"])
    assert len(request["reviews"]) == 1
    events = jit("dave", "audit", "--grant", created["id"], "-o", "json").stdout.splitlines()
    assert sum(json.loads(e)["kind"] == "request.quorum-reached" for e in events) == 1
    assert eventually(lambda: jit.json("alice", "get", created["id"])["state"] == "active", timeout=10)
    bindings = kubectl(
        "get", "rolebindings", "-n", namespace, "-l", f"kubejit.io/grant-id={created['id']}", "-o", "name"
    ).stdout.split()
    assert len(bindings) == 1


def test_bad_input_gets_clear_errors(jit: Jit, broker_setup: BrokerSetup, namespace: str) -> None:
    unknown = jit("alice", "request", "nope", "-n", namespace, "--for", "5m", "--reason", "INC-1", check=False)
    assert unknown.returncode == 1
    assert "no access profile 'nope'" in unknown.stderr
    elsewhere = jit("alice", "request", "debug", "-n", "kube-system", "--reason", "INC-1", check=False)
    assert elsewhere.returncode == 1
    assert "does not cover namespace kube-system" in elsewhere.stderr
    too_long = jit("alice", "request", "debug", "-n", namespace, "--for", "3h", "--reason", "INC-1", check=False)
    assert "3h is longer than profile debug allows (1h)" in too_long.stderr
    no_reason = jit("alice", "request", "debug", "-n", namespace, check=False)
    assert no_reason.returncode == 2
    assert "reason is required" in no_reason.stderr
    bad_duration = jit("alice", "request", "debug", "-n", namespace, "--for", "90x", check=False)
    assert bad_duration.returncode == 2
    assert "'90x' is not a duration" in bad_duration.stderr

    url = f"{broker_setup.broker.url}/api/v1/requests"
    good = {"Authorization": f"Bearer {jit.cluster.mint_token('alice')}"}
    malformed = httpx.post(url, content=b"{not json", headers={**good, "Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert "not valid" in malformed.json()["error"]["message"]
    foreign = httpx.post(
        url,
        json={"profile": "debug"},
        headers={"Authorization": f"Bearer {jit.cluster.mint_token('alice', audience='other')}"},
    )
    assert foreign.status_code == 401
    assert "audience" in foreign.json()["error"]["message"]
    missing = httpx.get(url)
    assert missing.status_code == 401
    unknown_field = httpx.post(url, json={"profile": "debug", "namespaces": [namespace], "colour": "red"}, headers=good)
    assert unknown_field.status_code == 400


def test_idempotent_retries_create_one_request(broker_setup: BrokerSetup, jit: Jit, namespace: str) -> None:
    headers = {"Authorization": f"Bearer {jit.cluster.mint_token('alice')}", "Idempotency-Key": "retry-1"}
    body = {"profile": "debug", "namespaces": [namespace], "duration": "5m", "reason": "INC-3"}
    first = httpx.post(f"{broker_setup.broker.url}/api/v1/requests", json=body, headers=headers)
    second = httpx.post(f"{broker_setup.broker.url}/api/v1/requests", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]


def test_kubectl_jit_is_the_same_program(jit: Jit, broker_setup: BrokerSetup) -> None:
    env = {
        **os.environ,
        "KUBEJIT_SERVER": broker_setup.broker.url,
        "KUBEJIT_TOKEN": jit.cluster.mint_token("bob"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [str(jit.cluster.bins.kubectl), "jit", "list", "--mine", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)


def test_health_metrics_and_openapi(broker_setup: BrokerSetup) -> None:
    url = broker_setup.broker.url
    assert httpx.get(f"{url}/healthz").text == "ok"
    assert httpx.get(f"{url}/readyz").status_code == 200
    metrics = httpx.get(f"{url}/metrics").text
    assert "kubejit_grants_activated" in metrics
    assert "kubejit_leader 1.0" in metrics
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/api/v1/requests/{request_id}/approve" in spec["paths"]


def policy_events(jit: Jit) -> list[str]:
    """The kinds of the policy events on the audit trail, oldest first (as the auditor dave reads them)."""
    lines = jit("dave", "audit", "-o", "json").stdout.splitlines()
    return [kind for kind in (json.loads(line)["kind"] for line in lines) if kind.startswith("policy.")]


def test_sighup_reloads_the_policy_and_a_bad_one_is_refused_and_audited(
    jit: Jit, broker_setup: BrokerSetup, namespace: str
) -> None:
    import signal

    original = broker_setup.policy_file.read_text()
    pid = broker_setup.broker.process.pid
    assert pid is not None

    try:
        before = len(policy_events(jit))
        broker_setup.policy_file.write_text(original.replace("maxDuration: 1h", "maxDuration: 90x"))
        os.kill(pid, signal.SIGHUP)
        assert eventually(lambda: len(policy_events(jit)) == before + 1, timeout=10)
        assert policy_events(jit)[-1] == "policy.reload-failed"
        assert jit.request("alice", "debug", namespace)["state"] == "pending"  # the old policy still serves

        broker_setup.policy_file.write_text(original.replace("    - name: quorum", "    - name: quorum-renamed"))
        os.kill(pid, signal.SIGHUP)
        assert eventually(
            lambda: policy_events(jit)[-1] == "policy.loaded" and len(policy_events(jit)) == before + 2, timeout=10
        )
        renamed = jit("alice", "request", "quorum-renamed", "-n", namespace, "--reason", "INC-1", check=False)
        assert renamed.returncode == 0, renamed.stderr
    finally:
        broker_setup.policy_file.write_text(original)
        os.kill(pid, signal.SIGHUP)
        assert eventually(
            lambda: (
                jit("alice", "request", "quorum", "-n", namespace, "--reason", "INC-1", check=False).returncode == 0
            ),
            timeout=10,
        )


def test_a_changed_policy_file_is_reloaded_without_a_signal_and_a_bad_one_refused_once(
    jit: Jit, broker_setup: BrokerSetup, namespace: str
) -> None:
    """As a mounted ConfigMap changes in place: the broker reads the file for changes (policyReloadInterval, 1 s
    in the tests); a bad policy is refused and audited once, the previous one keeps serving."""
    original = broker_setup.policy_file.read_text()

    try:
        before = len(policy_events(jit))
        broker_setup.policy_file.write_text(original.replace("maxDuration: 1h", "maxDuration: 90x"))
        assert eventually(lambda: len(policy_events(jit)) == before + 1, timeout=15)
        assert policy_events(jit)[-1] == "policy.reload-failed"
        time.sleep(2.5)  # two more looks at the same bad file: nothing more is audited
        assert len(policy_events(jit)) == before + 1
        assert jit.request("alice", "debug", namespace)["state"] == "pending"  # the old policy still serves

        broker_setup.policy_file.write_text(original.replace("    - name: quorum", "    - name: quorum-watched"))
        assert eventually(lambda: len(policy_events(jit)) == before + 2, timeout=15)
        assert policy_events(jit)[-1] == "policy.loaded"
        watched = jit("alice", "request", "quorum-watched", "-n", namespace, "--reason", "INC-1", check=False)
        assert watched.returncode == 0, watched.stderr
    finally:
        broker_setup.policy_file.write_text(original)
        assert eventually(
            lambda: (
                jit("alice", "request", "quorum", "-n", namespace, "--reason", "INC-1", check=False).returncode == 0
            ),
            timeout=15,
        )
