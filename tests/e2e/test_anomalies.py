"""Anomaly alerts end to end: the real control plane, a broker and a gateway (separate processes), real kubectl
sessions that trigger every rule kind of the policy's ``spec.alerts``, and a webhook receiver that takes
``alert.raised`` only. Each alert arrives naming its grant, user, rule and evidence; a ``revoke`` rule ends the
grant, and kubectl is refused afterwards. Where a rule has something below its threshold (a first refusal, a
workload written before any RBAC change, an exec into an unwatched pod, activity within the quiet window), the
session does that first and the test shows that only the triggering step raised the one alert.

docs/alerts.md lists which test shows each rule kind firing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from kubejit.devcluster.broker import start_broker
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.kwok import NODE_NAME
from tests.conftest import eventually
from tests.e2e.conftest import WebhookSink
from tests.e2e.gateway_env import GATEWAY_POLICY, GatewayEnv, gateway_env, namespace_with_pod

EXTRA_PROFILES = """\
    - name: cleanup
      rules:
        - {apiGroups: [""], resources: [events, configmaps], verbs: [get, list, delete]}
      namespaces: ["g-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      guardrails: [no-destructive]
    - name: emergency
      clusterRole: view
      namespaces: ["g-*"]
      requesters: {groups: [payments-leads]}
      approval: {approvers: {groups: [payments-leads]}}
      breakGlass: {allowed: {groups: [sre-oncall]}, maxDuration: 20m}
    - name: builder
      rules:
        - {apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [get, create]}
        - {apiGroups: [apps], resources: [deployments], verbs: [get, create]}
        - {apiGroups: [""], resources: [pods], verbs: [get, list]}
        - {apiGroups: [""], resources: [pods/ephemeralcontainers], verbs: [get, patch]}
      namespaces: ["g-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      allowRisks:
        - {id: rbac-write, justification: "binds a service's Role while setting it up"}
        - {id: workloads-create, justification: "deploys the service"}
        - {id: pods-exec, justification: "kubectl debug adds an ephemeral container"}
    - name: observe
      clusterRole: view
      namespaces: ["g-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
"""
IDLE_WINDOW = 2.0  # seconds: idle-grant's quiet window in this policy
ALERTS = f"""\
  alerts:
    - {{kind: secret-burst, threshold: 3, profiles: [secrets-read]}}
    - {{kind: forbidden-burst, threshold: 3, window: 1m, profiles: [debug]}}
    - {{kind: event-deletion}}
    - {{kind: break-glass}}
    - {{name: cut-on-guardrail, kind: guardrail-denial, action: revoke, profiles: [cleanup]}}
    - {{name: guardrail-notice, kind: guardrail-denial, threshold: 2, profiles: [ops]}}
    - {{kind: delete-burst, threshold: 3, profiles: [ops]}}
    - {{kind: privileged-exec, namespaces: ["g-priv-*"], names: ["*-privileged"], profiles: [ops]}}
    - {{kind: ephemeral-container, profiles: [builder]}}
    - {{kind: rbac-then-workload, profiles: [builder]}}
    - {{kind: outside-namespaces, profiles: [observe]}}
    - {{kind: idle-grant, window: {IDLE_WINDOW:g}s, profiles: [observe]}}
"""
POLICY = GATEWAY_POLICY.replace("\n  guardrails:\n", "\n" + EXTRA_PROFILES + "  guardrails:\n", 1) + ALERTS
ARRIVAL = 1.5  # seconds from kubectl's return to the receiver; bench/alert_latency.py measures the real figure


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def env(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink) -> Iterator[GatewayEnv]:
    hook = {"url": sink.url, "format": "generic", "events": ["alert.raised"]}
    with gateway_env(
        devcluster, tmp_path_factory.mktemp("alerts"), name="alerts", policy=POLICY, webhooks=[hook]
    ) as environment:
        yield environment


@pytest.fixture
def ns(devcluster: DevCluster) -> str:
    return namespace_with_pod(devcluster)


def session(env: GatewayEnv, user: str, profile: str, ns: str) -> tuple[str, Path]:
    grant = env.grant(user, profile, ns)
    return grant, env.kubeconfig(env.token(user, grant), ns)


def alerts_of(sink: WebhookSink, grant: str, rule: str) -> list[dict[str, Any]]:
    """The alert.raised notifications of ``rule`` on ``grant`` received so far, oldest first."""
    return [n for n in list(sink.received) if n["request"]["id"] == grant and n.get("alert", {}).get("rule") == rule]


Evidence = list[dict[str, Any]]


def alert_for(
    sink: WebhookSink, grant: str, rule: str, since: float, which: Callable[[Evidence], bool] = lambda _: True
) -> dict[str, Any]:
    """The first alert.raised notification of ``rule`` on ``grant`` whose evidence ``which`` accepts, waited for;
    fails if it is not there within ARRIVAL seconds of ``since`` (a monotonic time), or if it does not name the
    grant's user and its evidence."""
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        found[:] = [n for n in alerts_of(sink, grant, rule) if which(n["alert"]["evidence"])]
        return bool(found)

    if not eventually(arrived, timeout=10):
        seen = [(n["alert"]["rule"], n["alert"]["evidence"]) for n in sink.received if n["request"]["id"] == grant]
        pytest.fail(f"no such {rule} alert for {grant}; its alerts: {seen}")
    took = time.monotonic() - since
    assert took < ARRIVAL, f"the {rule} alert took {took:.2f} s"
    notification = found[0]
    assert notification["event"] == "alert.raised"
    assert notification["alert"]["rule"] == rule
    assert rule in notification["message"]
    assert notification["alert"]["user"] == notification["request"]["requester"]
    assert notification["alert"]["evidence"], notification
    return notification


def only_alert(
    sink: WebhookSink, grant: str, rule: str, since: float, triggered: Callable[[Evidence], bool]
) -> dict[str, Any]:
    """The alert of ``rule`` that the session's triggering step raised (``triggered`` recognises its evidence), and
    no other alert of ``rule`` on ``grant``: what the session did before that step stayed below the threshold.
    One receiver's notifications are delivered in the order they were raised (one queue per webhook), so an
    alert raised by an earlier step would have arrived before this one: no waiting for silence needed."""
    notification = alert_for(sink, grant, rule, since, triggered)
    assert len(alerts_of(sink, grant, rule)) == 1, [n["alert"]["evidence"] for n in alerts_of(sink, grant, rule)]
    return notification


def evidence_is(*expected: Mapping[str, Any]) -> Callable[[Evidence], bool]:
    """Evidence of exactly these events, in this order, each with (at least) these fields."""

    def matches(evidence: Evidence) -> bool:
        return len(evidence) == len(expected) and all(
            all(event.get(key) == value for key, value in wanted.items())
            for event, wanted in zip(evidence, expected, strict=True)
        )

    return matches


def recorded(env: GatewayEnv, grant: str, **fields: Any) -> int:
    """The seq of the grant's newest activity event whose data has ``fields``, waited for (its batch arrived)."""
    seqs: list[int] = []

    def found() -> bool:
        events = env.audit(grant)
        seqs[:] = [
            e["seq"]
            for e in events
            if e["kind"].startswith("activity.") and all(e["data"].get(k) == v for k, v in fields.items())
        ]
        return bool(seqs)

    assert eventually(found, timeout=10), f"no activity {fields} recorded for {grant}"
    return max(seqs)


def add_pod(cluster: DevCluster, ns: str, name: str) -> None:
    """A running pod ``name`` (container ``main``, on the kwok node) in ``ns``, created by the admin."""
    manifest = (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n"
        f"  nodeName: {NODE_NAME}\n  containers: [{{name: main, image: registry.example/app:1}}]\n"
    )
    cluster.kubectl("apply", "-f", "-", input_text=manifest, check=True)
    cluster.kubectl("wait", "-n", ns, f"pod/{name}", "--for=condition=Ready", "--timeout=30s", check=True)


def test_a_burst_of_secret_reads_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    for name in ("s1", "s2", "s3"):
        env.cluster.kubectl("create", "secret", "generic", name, "-n", ns, "--from-literal=k=v", check=True)
    grant, config = session(env, "carol", "secrets-read", ns)
    for name in ("s1", "s2"):
        assert env.kubectl(config, "get", "secret", name).returncode == 0
        assert env.kubectl(config, "get", "secret", name).returncode == 0  # read again: still one Secret
    time.sleep(1)
    assert not [n for n in sink.received if n["request"]["id"] == grant]  # 2 distinct Secrets: below the threshold
    assert env.kubectl(config, "get", "secret", "s3").returncode == 0
    alert = alert_for(sink, grant, "secret-burst", time.monotonic())
    assert alert["request"]["requester"] == "carol"
    assert alert["alert"]["user"] == "carol"
    assert sorted(e["name"] for e in alert["alert"]["evidence"]) == ["s1", "s2", "s3"]
    audited = [e for e in env.audit(grant) if e["kind"] == "alert.raised"]
    assert [e["data"]["rule"] for e in audited] == ["secret-burst"]
    evidence_seqs = {e["seq"] for e in alert["alert"]["evidence"]}
    assert evidence_seqs <= {e["seq"] for e in env.audit(grant) if e["kind"] == "activity.request"}


def test_many_403s_inside_one_grant_raise_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    grant, config = session(env, "alice", "debug", ns)
    for _ in range(3):
        assert env.kubectl(config, "get", "secrets").returncode != 0  # view does not read Secrets: 403
    alert = alert_for(sink, grant, "forbidden-burst", time.monotonic())
    assert [e["status"] for e in alert["alert"]["evidence"]] == [403, 403, 403]
    assert {e["resource"] for e in alert["alert"]["evidence"]} == {"secrets"}


def test_deleting_events_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    manifest = (
        f"apiVersion: v1\nkind: Event\nmetadata: {{name: evidence, namespace: {ns}}}\n"
        f"involvedObject: {{kind: Pod, name: app, namespace: {ns}}}\nreason: Test\nmessage: something happened\n"
    )
    env.cluster.kubectl("apply", "-f", "-", input_text=manifest, check=True)
    grant, config = session(env, "alice", "cleanup", ns)
    deleted = env.kubectl(config, "delete", "event", "evidence")
    assert deleted.returncode == 0, deleted.stderr
    alert = alert_for(sink, grant, "event-deletion", time.monotonic())
    assert [(e["verb"], e["resource"], e["name"]) for e in alert["alert"]["evidence"]] == [
        ("delete", "events", "evidence")
    ]


def test_using_break_glass_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    with env.api("carol") as carol:
        body = {"profile": "emergency", "namespaces": [ns], "duration": "10m", "reason": "INC-9", "breakGlass": True}
        created = carol.post("/api/v1/requests", json=body)
        created.raise_for_status()
        grant = str(created.json()["id"])
        assert eventually(lambda: carol.get(f"/api/v1/requests/{grant}").json()["state"] == "active")
    config = env.kubeconfig(env.token("carol", grant), ns)
    assert env.kubectl(config, "get", "pods").returncode == 0
    alert = alert_for(sink, grant, "break-glass", time.monotonic())
    assert alert["request"]["break_glass"] is True
    assert alert["alert"]["evidence"]


def test_a_revoke_rule_ends_the_grant_at_once(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    env.cluster.kubectl("create", "configmap", "keep-me", "-n", ns, check=True)
    grant, config = session(env, "alice", "cleanup", ns)
    assert env.kubectl(config, "get", "configmaps").returncode == 0
    refused = env.kubectl(config, "delete", "configmap", "keep-me")
    assert "keep-* configmaps stay" in refused.stderr
    alert = alert_for(sink, grant, "cut-on-guardrail", time.monotonic())
    assert alert["alert"]["action"] == "revoke"
    with env.api("alice") as me:
        assert eventually(lambda: me.get(f"/api/v1/requests/{grant}").json()["state"] == "revoked", timeout=5)
        ended = me.get(f"/api/v1/requests/{grant}").json()
    assert ended["endedBy"] == "kubejit"
    assert "alert rule cut-on-guardrail" in ended["endReason"]

    # Two refusals may come first, in either order: RBAC's, once the keeper deleted the binding, and the
    # gateway's own, once its grant stream told it of the revoke; the gateway's comes within the stream's delay.
    def gateway_refuses() -> bool:
        after = env.kubectl(config, "get", "configmaps")
        return after.returncode != 0 and ("not active" in after.stderr or "revoked" in after.stderr)

    assert eventually(gateway_refuses, timeout=5)
    kinds = [e["kind"] for e in env.audit(grant)]
    assert kinds.index("alert.raised") < kinds.index("grant.revoked")


def test_guardrail_denials_through_the_gateway_raise_an_alert_at_the_threshold(
    env: GatewayEnv, sink: WebhookSink, ns: str
) -> None:
    env.cluster.kubectl("create", "configmap", "keep-this", "-n", ns, check=True)
    grant, config = session(env, "alice", "ops", ns)
    kept = env.kubectl(config, "delete", "configmap", "keep-this")
    assert "keep-* configmaps stay" in kept.stderr, kept.stderr  # the first refusal: below the threshold of 2
    refused = env.kubectl(config, "exec", "app", "--", "rm", "-rf", "scratch")
    assert "this command is refused in a JIT session" in refused.stderr, refused.stderr
    # (an exec's verb is get or create, as kubectl's transport has it: not compared)
    denials = evidence_is(
        {"kind": "activity.refused", "verb": "delete", "resource": "configmaps", "name": "keep-this", "status": 403},
        {"kind": "activity.refused", "resource": "pods/exec", "name": "app", "status": 403},
    )
    alert = only_alert(sink, grant, "guardrail-notice", time.monotonic(), denials)
    assert alert["alert"]["ruleKind"] == "guardrail-denial"
    assert alert["alert"]["user"] == "alice"
    guardrails = [str(e["guardrail"]) for e in alert["alert"]["evidence"]]
    assert guardrails[0].startswith("no-destructive.deny["), guardrails
    assert guardrails[1].startswith("safe-exec."), guardrails


def test_a_burst_of_deletes_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    for name in ("c1", "c2", "c3"):
        env.cluster.kubectl("create", "configmap", name, "-n", ns, check=True)
    grant, config = session(env, "alice", "ops", ns)
    for name in ("c1", "c2"):  # two deletes: below the threshold of 3
        deleted = env.kubectl(config, "delete", "configmap", name)
        assert deleted.returncode == 0, deleted.stderr
    assert env.kubectl(config, "delete", "configmap", "c1").returncode != 0  # 404: a delete that did not go through
    assert env.kubectl(config, "delete", "configmap", "c3").returncode == 0
    three = evidence_is(
        *({"verb": "delete", "resource": "configmaps", "name": n, "status": 200} for n in ("c1", "c2", "c3"))
    )
    alert = only_alert(sink, grant, "delete-burst", time.monotonic(), three)
    assert alert["alert"]["user"] == "alice"


def test_exec_into_a_watched_pod_raises_an_alert(
    env: GatewayEnv, sink: WebhookSink, ns: str, devcluster: DevCluster
) -> None:
    add_pod(devcluster, ns, "agent-privileged")
    grant, config = session(env, "alice", "ops", ns)
    plain = env.kubectl(config, "exec", "app", "--", "echo", "plain")  # neither its namespace nor its name watched
    assert plain.stdout == "plain\n", plain.stderr
    watched = env.kubectl(config, "exec", "agent-privileged", "--", "echo", "watched")
    assert watched.stdout == "watched\n", watched.stderr
    started = {"kind": "activity.exec", "resource": "pods/exec", "namespace": ns, "status": 101}
    alert = only_alert(
        sink, grant, "privileged-exec", time.monotonic(), evidence_is({**started, "name": "agent-privileged"})
    )
    assert alert["alert"]["user"] == "alice"


def test_exec_into_a_watched_namespace_raises_an_alert(
    env: GatewayEnv, sink: WebhookSink, devcluster: DevCluster
) -> None:
    watched = namespace_with_pod(devcluster, "g-priv")
    grant, config = session(env, "alice", "ops", watched)
    ran = env.kubectl(config, "exec", "app", "--", "echo", "in-a-watched-namespace")
    assert ran.returncode == 0, ran.stderr
    started = evidence_is({"kind": "activity.exec", "namespace": watched, "name": "app"})
    only_alert(sink, grant, "privileged-exec", time.monotonic(), started)


def test_kubectl_debug_raises_an_ephemeral_container_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    grant, config = session(env, "alice", "builder", ns)
    assert env.kubectl(config, "get", "pod", "app").returncode == 0  # reading the pod: nothing to flag
    debugged = env.kubectl(config, "debug", "app", "--image=busybox", "--", "ls", "/")
    assert debugged.returncode == 0, debugged.stderr
    patched = evidence_is({"verb": "patch", "resource": "pods/ephemeralcontainers", "name": "app", "status": 200})
    alert = only_alert(sink, grant, "ephemeral-container", time.monotonic(), patched)
    assert alert["alert"]["user"] == "alice"


def test_an_rbac_change_then_a_workload_change_raises_an_alert(
    env: GatewayEnv, sink: WebhookSink, ns: str, devcluster: DevCluster
) -> None:
    devcluster.kubectl("create", "role", "pod-reader", "--verb=get", "--resource=pods", "-n", ns, check=True)
    grant, config = session(env, "alice", "builder", ns)
    before = env.kubectl(config, "create", "deployment", "early", "--image=busybox")
    assert before.returncode == 0, before.stderr  # a workload change with no RBAC change before it: nothing
    bound = env.kubectl(config, "create", "rolebinding", "helper", "--role=pod-reader", "--user=someone-else")
    assert bound.returncode == 0, bound.stderr  # an RBAC change alone: nothing yet
    after = env.kubectl(config, "create", "deployment", "web", "--image=busybox")
    assert after.returncode == 0, after.stderr
    sequence = evidence_is(
        {"verb": "create", "apiGroup": "rbac.authorization.k8s.io", "resource": "rolebindings", "status": 201},
        {"verb": "create", "apiGroup": "apps", "resource": "deployments", "status": 201},
    )
    alert = only_alert(sink, grant, "rbac-then-workload", time.monotonic(), sequence)
    assert alert["alert"]["user"] == "alice"
    written = {e["seq"] for e in env.audit(grant) if e["kind"] == "activity.request"}
    assert {e["seq"] for e in alert["alert"]["evidence"]} <= written


def test_a_request_outside_the_grants_namespaces_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    grant, config = session(env, "alice", "observe", ns)
    assert env.kubectl(config, "get", "pods").returncode == 0  # inside the grant: nothing
    outside = env.kubectl(config, "get", "pods", "-n", "default")
    assert outside.returncode != 0
    assert "does not cover namespace default" in outside.stderr, outside.stderr
    refused = evidence_is(
        {"kind": "activity.refused", "verb": "list", "resource": "pods", "namespace": "default", "status": 403}
    )
    alert = only_alert(sink, grant, "outside-namespaces", time.monotonic(), refused)
    assert alert["alert"]["user"] == "alice"


def test_activity_after_a_quiet_window_raises_an_idle_grant_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    grant, config = session(env, "alice", "observe", ns)
    assert env.kubectl(config, "get", "pods").returncode == 0  # right after the grant started: not idle
    quiet_from = time.monotonic()
    before = recorded(env, grant, verb="list", resource="pods")
    # The broker times activity when a batch is recorded (every 0.3 s): quiet for the window whatever the phase.
    time.sleep(max(0.0, quiet_from + IDLE_WINDOW + 0.5 - time.monotonic()))
    assert env.kubectl(config, "get", "pods").returncode == 0
    alert = only_alert(sink, grant, "idle-grant", time.monotonic(), lambda evidence: evidence[0]["seq"] > before)
    assert alert["alert"]["user"] == "alice"
    assert "without activity" in alert["alert"]["summary"]
    [evidence] = alert["alert"]["evidence"]
    assert evidence["kind"] == "activity.request"


def test_a_burst_that_straddles_a_broker_restart_raises_its_alert(
    devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink, ns: str
) -> None:
    """Two refusals, the broker killed (SIGKILL) and started again on the same database, then the third refusal:
    the new process refilled its windows from the audit trail, so forbidden-burst fires with all three."""
    hook = {"url": sink.url, "format": "generic", "events": ["alert.raised"]}
    directory = tmp_path_factory.mktemp("alerts-restart")
    with gateway_env(devcluster, directory, name="alerts-restart", policy=POLICY, webhooks=[hook]) as restart:
        grant, config = session(restart, "alice", "debug", ns)
        for _ in range(2):
            assert restart.kubectl(config, "get", "secrets").returncode != 0

        def refusals() -> int:
            return len([e for e in restart.audit(grant) if e["kind"] == "activity.refused"])

        assert eventually(lambda: refusals() == 2, timeout=10)  # both recorded before the crash
        restart.broker.kill()
        again = start_broker(restart.broker.config, log_name="alerts-restart-broker-2")
        try:
            # the gateway refuses while it cannot record: wait until it works again through the new process
            assert eventually(lambda: restart.kubectl(config, "get", "pods").returncode == 0, timeout=30)
            assert restart.kubectl(config, "get", "secrets").returncode != 0
            alert = alert_for(sink, grant, "forbidden-burst", time.monotonic())
            assert [e["status"] for e in alert["alert"]["evidence"]] == [403, 403, 403]
        finally:
            again.stop()
