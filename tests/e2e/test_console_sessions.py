"""Open gateway sessions on the console's live page, end to end: a real broker and a real gateway (separate
processes), a real ``kubectl exec`` held open through the gateway into a kwok pod, headless Chromium.

alice's exec (``sh -c 'sleep 120'``) appears in erin's (admin) list of open sessions with its command, pod,
start and gateway process, and in ``GET /api/v1/sessions``; dave (auditor) sees it without a revoke button (he may
not revoke). erin revokes the grant from the session's row: kubectl's exec ends, the gateway records the session
closed with the same session id, and erin's other tab on the live page shows the list empty without a reload
(the stream's ``sessions`` message). Screenshots go to build/test-artifacts/console/; axe-core finds no serious
or critical violation.

A gateway process killed (SIGKILL) while its grant is active takes its exec and its watch down without recording
their ends: once the broker has not heard from it for ``GATEWAY_SILENCE``, both are listed *unconfirmed*.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.live_sessions import GATEWAY_SILENCE
from tests.conftest import eventually
from tests.e2e.gateway_env import GatewayEnv, gateway_env, module_gateway_env, namespace_with_pod
from tests.e2e.test_console import chromium, person, shot, sign_in  # noqa: F401 - the fixture too

pytestmark = pytest.mark.cluster

WEBSOCKET = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "true"}

env = module_gateway_env("console-sessions")


def held_exec(env: GatewayEnv, config: Path, command: str) -> subprocess.Popen[str]:
    argv = [str(env.cluster.bins.kubectl), "--kubeconfig", str(config), "exec", "app", "--", "sh", "-c", command]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **WEBSOCKET}
    )


def test_an_open_exec_session_is_listed_and_ended_from_the_live_page(
    env: GatewayEnv,
    devcluster: DevCluster,
    chromium: Browser,  # noqa: F811
) -> None:
    ns = namespace_with_pod(devcluster)
    grant = env.grant("alice", "ops", ns)
    config = env.kubeconfig(env.token("alice", grant), ns)
    exec_session = held_exec(env, config, "sleep 120")
    try:
        started = lambda: any(e["kind"] == "activity.exec" for e in env.audit(grant))  # noqa: E731
        assert eventually(started, timeout=15), exec_session.stderr
        with env.api("alice") as alice:
            (listed,) = alice.get("/api/v1/sessions").json()
        assert (listed["grantId"], listed["kind"], listed["pod"]) == (grant, "exec", "app")
        assert listed["command"] == ["sh", "-c", "sleep 120"]
        assert listed["standing"] == "open"

        erin = person(chromium)
        sign_in(erin, env.broker, "erin", "/console/live")
        row = erin.locator("#live-sessions tr", has_text=grant)
        expect(row).to_contain_text(f"exec in {ns}/app")
        expect(row).to_contain_text("sh -c 'sleep 120'")
        expect(row).to_contain_text("alice")
        expect(row).to_contain_text(listed["gateway"])
        expect(row).to_contain_text("open")

        watcher = erin.context.new_page()  # a second tab that stays on the live page
        watcher.goto(f"{env.broker.url}/console/live")
        expect(watcher.locator("#live-status")).to_contain_text("Live:")
        expect(watcher.locator("#live-sessions tr", has_text=grant)).to_have_count(1)
        watcher.evaluate("() => { window.notReloaded = true; }")

        dave = person(chromium)
        sign_in(dave, env.broker, "dave", "/console/live")
        his = dave.locator("#live-sessions tr", has_text=grant)
        expect(his).to_contain_text("not yours to revoke")  # auditors read, they do not revoke
        expect(his.get_by_role("button")).to_have_count(0)
        shot(erin, "sessions-1-open")

        erin.get_by_role("button", name=f"Revoke grant {grant} (ends this exec session)").click()
        expect(erin).to_have_url(f"{env.broker.url}/console/live")  # back where the revoke was made
        expect(erin.locator("#live-sessions tr")).to_have_count(0, timeout=10_000)
        exec_session.wait(timeout=10)  # the gateway cut the stream
        assert exec_session.returncode != 0

        expect(watcher.locator("#live-sessions tr")).to_have_count(0, timeout=10_000)
        expect(watcher.locator("#sessions-empty")).to_be_visible()
        assert watcher.evaluate("() => window.notReloaded") is True  # the stream's sessions message, no reload
        shot(watcher, "sessions-2-ended")
    finally:
        exec_session.kill()
        exec_session.communicate()

    events = env.audit(grant)
    (start,) = [e for e in events if e["kind"] == "activity.exec"]
    (closed,) = [e for e in events if e["kind"] == "activity.session-closed"]
    assert start["data"]["session"] == closed["data"]["session"]
    assert closed["data"]["closed"] != "closed"  # cut by the gateway, not ended by kubectl
    with env.api("alice") as alice:
        assert alice.get("/api/v1/sessions").json() == []


def test_the_sessions_of_a_killed_gateway_become_unconfirmed(
    devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with gateway_env(devcluster, tmp_path_factory.mktemp("sessions-crash"), name="sessions-crash") as crash:
        ns = namespace_with_pod(devcluster)
        grant = crash.grant("alice", "ops", ns)
        config = crash.kubeconfig(crash.token("alice", grant), ns)
        kubectl = str(crash.cluster.bins.kubectl)
        streams = [
            held_exec(crash, config, "sleep 120"),
            subprocess.Popen(
                [kubectl, "--kubeconfig", str(config), "get", "configmaps", "-w", "-o", "name"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        ]
        try:

            def listed() -> list[tuple[str, str]]:
                with crash.api("alice") as alice:
                    return sorted((s["kind"], s["standing"]) for s in alice.get("/api/v1/sessions").json())

            assert eventually(lambda: listed() == [("exec", "open"), ("watch", "open")], timeout=20), listed()
            crash.gateway.process.kill()  # no end is recorded for either stream
            killed_at = time.monotonic()
            unconfirmed = [("exec", "unconfirmed"), ("watch", "unconfirmed")]
            assert eventually(lambda: listed() == unconfirmed, timeout=GATEWAY_SILENCE.total_seconds() + 20)
            assert time.monotonic() - killed_at >= GATEWAY_SILENCE.total_seconds() - 6  # not before it went silent
            with crash.api("dave") as dave:
                whys = [s["why"] for s in dave.get("/api/v1/sessions").json()]
            assert all("has not been heard from since" in why for why in whys), whys
        finally:
            for stream in streams:
                stream.kill()
                stream.communicate()
