"""The gateway with real kubectl: what a grant allows passes (get, list, watch, apply, delete, logs, exec over
WebSocket and SPDY), what it does not is refused with a message, guardrails apply inside the session, activity is
recorded, and open streams are cut when the grant ends or is revoked."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from kubejit.devcluster.cluster import DevCluster
from kubejit.entrypoints.gateway._forwarding import CLIENT_CHECK_SECONDS, CLIENT_LEFT
from tests.conftest import Kubectl, eventually
from tests.e2e.gateway_env import GatewayEnv, module_gateway_env, namespace_with_pod

env = module_gateway_env("gw")


@pytest.fixture
def ns(devcluster: DevCluster) -> str:
    return namespace_with_pod(devcluster)


def ops_session(env: GatewayEnv, ns: str, duration: str = "10m") -> tuple[str, Path]:
    grant = env.grant("alice", "ops", ns, duration)
    return grant, env.kubeconfig(env.token("alice", grant), ns)


def watch_configmaps(env: GatewayEnv, config: Path) -> subprocess.Popen[str]:
    """``kubectl get configmaps -w -o name`` through the gateway, running."""
    return subprocess.Popen(
        [str(env.cluster.bins.kubectl), "--kubeconfig", str(config), "get", "configmaps", "-w", "-o", "name"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kubectl_works_through_the_gateway_within_the_grant(env: GatewayEnv, ns: str) -> None:
    grant, config = ops_session(env, ns)
    assert "app" in env.kubectl(config, "get", "pods").stdout
    applied = env.kubectl(
        config,
        "apply",
        "-f",
        "-",
        input_text=(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {ns}}}\ndata: {{a: b}}\n"
        ),
    )
    assert applied.returncode == 0, applied.stderr
    assert env.kubectl(config, "get", "configmap", "settings", "-o", "jsonpath={.data.a}").stdout == "b"
    assert env.kubectl(config, "delete", "configmap", "settings").returncode == 0
    logs = env.kubectl(config, "logs", "app")
    assert "kubejit dev pod started" in logs.stdout
    refused = env.kubectl(config, "get", "secrets")
    assert refused.returncode == 1
    assert f"grant {grant} (ops) does not allow list on secrets" in refused.stderr
    assert "no profile you may request covers this request" in refused.stderr  # secrets-read is for sre-oncall
    elsewhere = env.kubectl(config, "get", "pods", "-n", "kube-system")
    assert "does not cover namespace kube-system" in elsewhere.stderr


def test_a_refusal_names_the_profile_to_request(env: GatewayEnv, ns: str) -> None:
    """carol (sre-oncall) holds ops; the Status for a secret names the profile that would cover it."""
    grant = env.grant("carol", "ops", ns)
    config = env.kubeconfig(env.token("carol", grant), ns)
    refused = env.kubectl(config, "get", "secrets")
    assert refused.returncode == 1
    assert f"request it with `kubejit request secrets-read -n {ns} --reason ...`" in refused.stderr, refused.stderr


def test_guardrails_apply_inside_the_session(env: GatewayEnv, ns: str, kubectl: Kubectl) -> None:
    _, config = ops_session(env, ns)
    kubectl("create", "configmap", "keep-me", "-n", ns)
    kept = env.kubectl(config, "delete", "configmap", "keep-me")
    assert kept.returncode == 1
    assert "refused by guardrail no-destructive.deny[1]: keep-* configmaps stay" in kept.stderr
    warned = env.kubectl(config, "delete", "pod", "app", "--wait=false")
    assert warned.returncode == 0, warned.stderr
    assert "deleting a pod restarts it" in warned.stderr  # kubectl prints the Warning header


@pytest.mark.parametrize("websocket", ["true", "false"], ids=["websocket", "spdy"])
def test_exec_works_and_dangerous_commands_are_refused(env: GatewayEnv, ns: str, websocket: str) -> None:
    grant, config = ops_session(env, ns)
    transport = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websocket}
    ok = env.kubectl(config, "exec", "app", "--", "sh", "-c", "echo hello-$((40+2))", env=transport)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "hello-42\n"
    for command in (
        ["rm", "-rf", "/"],
        ["sh", "-c", "rm -rf /tmp/x"],
        ["env", "rm", "-rf", "/"],
        ["sh", "-c", "true && rm -rf /"],
    ):
        refused = env.kubectl(config, "exec", "app", "--", *command, env=transport)
        assert refused.returncode != 0
        assert "this command is refused in a JIT session" in refused.stderr, refused.stderr
    assert eventually(lambda: any(e["kind"] == "activity.session-closed" for e in env.audit(grant)), timeout=10)
    events = env.audit(grant)
    started = [e for e in events if e["kind"] == "activity.exec"]
    assert started[0]["data"]["command"] == ["sh", "-c", "echo hello-$((40+2))"]
    closed = [e for e in events if e["kind"] == "activity.session-closed"]
    if websocket == "true":
        assert "hello-42" in closed[0]["data"]["output"]  # the output stream is recorded over WebSocket
    assert eventually(lambda: len([e for e in env.audit(grant) if e["kind"] == "activity.refused"]) >= 4, timeout=10)


def test_every_request_is_recorded_against_its_grant(env: GatewayEnv, ns: str) -> None:
    grant, config = ops_session(env, ns)
    env.kubectl(config, "get", "pod", "app")
    env.kubectl(config, "get", "secrets")

    def recorded() -> list[dict[str, object]]:
        return [e for e in env.audit(grant) if str(e["kind"]).startswith("activity.")]

    assert eventually(lambda: any(e["data"].get("name") == "app" for e in recorded()), timeout=10)  # type: ignore[attr-defined]
    get_pod = next(e for e in recorded() if e["data"].get("name") == "app")  # type: ignore[attr-defined]
    assert get_pod["actor"] == "alice"
    assert get_pod["data"]["verb"] == "get"  # type: ignore[index]
    assert get_pod["data"]["status"] == 200  # type: ignore[index]
    assert get_pod["data"]["bytes"] > 0  # type: ignore[index, operator]
    assert eventually(  # the gateway delivers activity in batches: the refusal may come in the next one
        lambda: any(e["kind"] == "activity.refused" and e["data"]["resource"] == "secrets" for e in recorded()),  # type: ignore[index]
        timeout=10,
    )


def test_watch_streams_and_is_cut_when_the_grant_is_revoked(env: GatewayEnv, ns: str, kubectl: Kubectl) -> None:
    grant, config = ops_session(env, ns)
    watch = watch_configmaps(env, config)
    try:
        assert watch.stdout is not None
        kubectl("create", "configmap", "streamed", "-n", ns)
        assert watch.stdout.readline().strip() in ("configmap/kube-root-ca.crt", "configmap/streamed")
        with env.api("alice") as me:
            me.post(f"/api/v1/requests/{grant}/revoke", json={"reason": "done"}).raise_for_status()
        revoked_at = time.monotonic()
        watch.wait(timeout=10)
        cut_after = time.monotonic() - revoked_at
        assert cut_after < 1.5, f"the watch was closed {cut_after:.2f}s after the revoke"
    finally:
        watch.kill()
        watch.communicate()
    after = env.kubectl(config, "get", "pods")
    assert after.returncode == 1
    assert "not active" in after.stderr

    def watch_records() -> list[dict[str, object]]:
        return [e["data"] for e in env.audit(grant) if e["data"].get("verb") == "watch" and e["data"].get("session")]

    # recorded as a session: its start when kube-apiserver began streaming, its end (same id) at the cut
    assert eventually(lambda: any(r["phase"] == "end" for r in watch_records()), timeout=10)
    starts = [r for r in watch_records() if r["phase"] == "start"]
    ends = [r for r in watch_records() if r["phase"] == "end"]
    assert {r["session"] for r in starts} == {r["session"] for r in ends}
    assert all(r["closed"] != "ended by kube-apiserver" for r in ends)


def test_the_watch_of_a_stopped_kubectl_ends_without_waiting_for_an_event(env: GatewayEnv, ns: str) -> None:
    """kubectl killed mid-watch, and nothing changes in the namespace after: the gateway notices the closed
    connection itself (within CLIENT_CHECK_SECONDS), ends the upstream watch and records the session's end."""
    grant, config = ops_session(env, ns)
    watch = watch_configmaps(env, config)

    def open_watches() -> int:
        with env.api("alice") as me:
            return len([s for s in me.get("/api/v1/sessions").json() if s["grantId"] == grant and s["kind"] == "watch"])

    try:
        assert watch.stdout is not None
        assert watch.stdout.readline().strip() == "configmap/kube-root-ca.crt"
        assert eventually(lambda: open_watches() == 1, timeout=15)
    finally:
        watch.kill()
        watch.communicate()
    assert eventually(lambda: open_watches() == 0, timeout=CLIENT_CHECK_SECONDS + 10)
    ends = [e["data"] for e in env.audit(grant) if e["data"].get("verb") == "watch" and e["data"].get("phase") == "end"]
    assert [end["closed"] for end in ends] == [CLIENT_LEFT]


def test_an_exec_session_is_cut_at_the_end_of_its_grant(env: GatewayEnv, ns: str) -> None:
    grant, config = ops_session(env, ns, duration="4s")
    started = time.monotonic()
    session = env.kubectl(config, "exec", "app", "--", "sh", "-c", "sleep 60", timeout=30)
    lasted = time.monotonic() - started
    assert lasted < 4 + 1.5, f"the session outlived its grant by {lasted - 4:.2f}s"
    assert session.returncode != 0
    assert eventually(
        lambda: any(
            e["kind"] == "activity.session-closed" and e["data"]["closed"] != "closed" for e in env.audit(grant)
        ),
        timeout=10,
    )


def test_requests_after_a_revoke_are_refused_within_a_second(env: GatewayEnv, ns: str) -> None:
    grant, config = ops_session(env, ns)
    assert env.kubectl(config, "get", "pods").returncode == 0
    with env.api("alice") as me:
        me.post(f"/api/v1/requests/{grant}/revoke", json={}).raise_for_status()
    revoked_at = time.monotonic()
    refused_at = None
    while time.monotonic() - revoked_at < 5:
        if env.kubectl(config, "get", "pods").returncode != 0:
            refused_at = time.monotonic()
            break
    assert refused_at is not None
    assert refused_at - revoked_at < 1.0 + 0.3  # + one kubectl start-up


def test_concurrent_users_do_not_see_each_others_grants(env: GatewayEnv, ns: str) -> None:
    grant, alice_config = ops_session(env, ns)
    results: dict[str, int] = {}

    def run(name: str, config: Path) -> None:
        results[name] = env.kubectl(config, "get", "pods").returncode

    other = f"{ns}x"
    carol_grant = env.grant("carol", "debug", ns)
    carol_config = env.kubeconfig(env.token("carol", carol_grant), other)
    threads = [
        threading.Thread(target=run, args=("alice", alice_config)),
        threading.Thread(target=run, args=("carol", carol_config)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"alice": 0, "carol": 1}
    assert grant != carol_grant
