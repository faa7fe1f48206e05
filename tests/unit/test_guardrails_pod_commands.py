"""The exec guardrail on every way to run a command in a pod: attach, the kubelet's API, and the containers that
pod, workload and ephemeral-container writes would start (checked like exec command lines)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.exec_commands import parse_pattern
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.guardrails import Effect, ExecRule, Guardrail, evaluate
from kubejit.domain.pod_commands import RequestBody, extract_pod_commands
from kubejit.domain.requestinfo import RequestAttributes, parse_request
from kubejit.services.gateway_access import GatewayAccess, GuardrailRefusal

PATTERNS = tuple(parse_pattern(p) for p in ("rm -rf", "mkfs", "dd"))
SAFE_EXEC = Guardrail("safe-exec", exec=ExecRule(PATTERNS, message="refused in a JIT session"))
NO_SHELLS = Guardrail("no-shells", exec=ExecRule(PATTERNS, allow_interactive_shells=False))
OPEN_EXEC = Guardrail("open-exec", exec=ExecRule(PATTERNS, fail_closed=False))
PODS = "/api/v1/namespaces/a/pods"
EPHEMERAL = "/api/v1/namespaces/a/pods/p/ephemeralcontainers"
SMP = "application/strategic-merge-patch+json"


def body(document: Any, content_type: str = "application/json") -> RequestBody:
    return RequestBody(json.dumps(document).encode(), content_type)


def pod(**container: Any) -> RequestBody:
    return body({"spec": {"containers": [{"name": "main", "image": "busybox", **container}]}})


def debug(**container: Any) -> RequestBody:
    """What `kubectl debug -it p --image=busybox -- CMD` sends: a strategic merge patch with the new container."""
    return body({"spec": {"ephemeralContainers": [{"name": "debugger-1", "image": "busybox", **container}]}}, SMP)


def workload(**container: Any) -> RequestBody:
    return body({"spec": {"template": {"spec": {"containers": [{"name": "app", **container}]}}}})


def create(path: str = PODS) -> RequestAttributes:
    return parse_request("POST", path)


def patch(path: str = EPHEMERAL) -> RequestAttributes:
    return parse_request("PATCH", path)


@pytest.mark.parametrize("upgrade", [True, False], ids=["websocket", "spdy"])
def test_attach_is_refused_when_interactive_shells_are_not_allowed(upgrade: bool) -> None:
    attach = parse_request(
        "GET" if upgrade else "POST", "/api/v1/namespaces/a/pods/p/attach", "stdin=true&tty=true", upgrade=upgrade
    )
    refused = evaluate([NO_SHELLS], attach)
    assert refused.effect is Effect.DENY
    assert refused.rule == "no-shells.exec"
    assert "kubectl attach joins the container's main process" in refused.message
    assert "kubectl logs -f" in refused.message
    assert evaluate([SAFE_EXEC], attach).effect is Effect.ALLOW  # the patterns cannot see what is typed


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nodes/node-1/proxy/exec/a/p/main",
        "/api/v1/nodes/node-1/proxy/run/a/p/main",
        "/api/v1/nodes/node-1/proxy/attach/a/p/main",
        "/api/v1/nodes/node-1/proxy/Exec/a/p/main",
        "/api/v1/nodes/node-1/proxy/cri/exec/abc",
    ],
)
def test_the_kubelets_own_exec_endpoints_are_refused(path: str) -> None:
    decision = evaluate([SAFE_EXEC], parse_request("POST", path, "cmd=rm+-rf+/"))
    assert decision.effect is Effect.DENY
    assert "nodes/proxy" in decision.message
    assert evaluate([SAFE_EXEC], parse_request("GET", "/api/v1/nodes/node-1/proxy/stats/summary")).allowed
    assert evaluate([], parse_request("POST", path)).allowed  # no exec rule: RBAC alone decides


@pytest.mark.parametrize(
    ("attrs", "sent"),
    [
        (create(), pod(command=["rm", "-rf", "/"])),
        (create(), pod(args=["sh", "-c", "true && rm -rf /data"])),  # kubectl run x --image=busybox -- sh -c ...
        (create(), pod(command=["$(P)", "-rf", "/"], env=[{"name": "P", "value": "rm"}])),
        (create("/apis/apps/v1/namespaces/a/deployments"), workload(command=["dd", "if=/dev/zero", "of=/dev/sda"])),
        (
            create("/apis/batch/v1/namespaces/a/jobs"),
            body(
                {
                    "spec": {
                        "template": {"spec": {"initContainers": [{"name": "i", "command": ["mkfs.ext4", "/dev/sda"]}]}}
                    }
                }
            ),
        ),
        (patch(), debug(command=["rm", "-rf", "/"])),
    ],
    ids=["pod-command", "pod-args", "pod-variable", "deployment", "job-init", "debug"],
)
def test_containers_that_would_run_a_denied_command_are_refused(attrs: RequestAttributes, sent: RequestBody) -> None:
    decision = evaluate([SAFE_EXEC], attrs, sent)
    assert decision.effect is Effect.DENY
    assert decision.rule == "safe-exec.exec"
    assert decision.message.startswith("refused in a JIT session: spec.")
    assert "matches the denied exec command pattern" in decision.message


def test_containers_with_harmless_commands_pass() -> None:
    assert evaluate([SAFE_EXEC], create(), pod(command=["sh", "-c", "echo hello"])).effect is Effect.ALLOW
    assert evaluate([NO_SHELLS], patch(), debug(command=["ls", "/"], stdin=True)).effect is Effect.ALLOW
    environment = [{"name": "MODE", "value": "rm -rf /"}]  # a value is data, not a command
    assert evaluate([SAFE_EXEC], create(), pod(command=["printenv", "MODE"], env=environment)).allowed


def test_an_interactive_shell_container_is_refused_when_shells_are_not_allowed() -> None:
    refused = evaluate([NO_SHELLS], patch(), debug(command=["sh"], stdin=True, tty=True))  # kubectl debug -it -- sh
    assert refused.effect is Effect.DENY
    assert "spec.ephemeralContainers[0] (debugger-1): interactive shells are not allowed" in refused.message
    assert evaluate([SAFE_EXEC], patch(), debug(command=["sh"], stdin=True, tty=True)).allowed
    # Without stdin or a terminal a shell reads nothing and exits: not a session.
    assert evaluate([NO_SHELLS], patch(), debug(command=["sh"])).allowed


def test_the_image_entrypoint_with_stdin_is_an_interactive_session() -> None:
    refused = evaluate([NO_SHELLS], patch(), debug(stdin=True, tty=True))  # kubectl debug -it p --image=busybox
    assert refused.effect is Effect.DENY
    assert "runs its image's entrypoint, which cannot be checked" in refused.message
    quiet = evaluate([NO_SHELLS], patch(), debug())
    assert quiet.effect is Effect.WARN
    assert "runs its image's entrypoint, which kubejit cannot check" in quiet.message
    assert evaluate([NO_SHELLS], create(), pod()).effect is Effect.ALLOW  # an app's own entrypoint: no warning


def test_a_body_that_cannot_be_checked_is_refused_when_failing_closed() -> None:
    protobuf = RequestBody(b"k8s\x00", "application/vnd.kubernetes.protobuf")
    refused = evaluate([SAFE_EXEC], create(), protobuf)
    assert refused.effect is Effect.DENY
    assert "the commands this request would run cannot be checked: the body is sent as" in refused.message
    assert evaluate([SAFE_EXEC], create(), None).effect is Effect.DENY  # the body was not read
    partial = evaluate(
        [SAFE_EXEC],
        patch("/apis/apps/v1/namespaces/a/deployments/d"),
        body({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["-rf", "/"]}]}}}}, SMP),
    )
    assert "not both command and args" in partial.message
    lenient = evaluate([OPEN_EXEC], create(), protobuf)
    assert lenient.effect is Effect.WARN
    assert "allowed without a complete check" in lenient.message
    nothing_to_enforce = Guardrail("empty", exec=ExecRule(()))
    assert evaluate([nothing_to_enforce], create(), protobuf).effect is Effect.ALLOW


def test_bodies_are_read_only_by_exec_rules_and_only_for_pod_writes() -> None:
    garbage = RequestBody(b"not json")
    assert evaluate([], create(), garbage).effect is Effect.ALLOW
    deny_only = Guardrail("d", deny=())
    assert evaluate([deny_only], create(), garbage).effect is Effect.ALLOW
    assert evaluate([SAFE_EXEC], create("/api/v1/namespaces/a/configmaps"), garbage).effect is Effect.ALLOW
    assert evaluate([SAFE_EXEC], parse_request("DELETE", f"{PODS}/p"), garbage).effect is Effect.ALLOW


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = load_policy("""\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: unit}
spec:
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: ops
      rules: [{apiGroups: [""], resources: [pods, pods/ephemeralcontainers], verbs: [get, create, patch]}]
      namespaces: ["team-*"]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
      allowRisks:
        - {id: pods-exec, justification: unit}
        - {id: pods-create, justification: unit}
      guardrails: [safe-exec]
  guardrails:
    - name: safe-exec
      exec: {denyCommands: ["rm -rf"], allowInteractiveShells: false}
""")


def test_the_gateways_decision_sees_the_body() -> None:
    book = GrantBook(timedelta(seconds=5))
    book.replace([ActiveGrant("g1", "alice", frozenset({"devs"}), "ops", ("team-a",), NOW + timedelta(hours=1))], NOW)
    access = GatewayAccess(lambda: POLICY, lambda profile: profile.role.rules, book)
    path = "/api/v1/namespaces/team-a/pods"
    with pytest.raises(GuardrailRefusal, match=r"refused by guardrail safe-exec.exec: spec.containers\[0\] \(main\)"):
        access.authorize(
            parse_request("POST", path), NOW, grant_id="g1", user="alice", body=pod(command=["rm", "-rf", "/"])
        )
    allowed = access.authorize(parse_request("POST", path), NOW, grant_id="g1", user="alice", body=pod(command=["ls"]))
    assert allowed.grant.id == "g1"
    with pytest.raises(GuardrailRefusal, match="the gateway did not read the request body"):
        access.authorize(parse_request("POST", path), NOW, grant_id="g1", user="alice")


HOOKS_AND_PROBES = [
    {"lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "rm -rf /data"]}}}},
    {"lifecycle": {"preStop": {"exec": {"command": ["rm", "-rf", "/data"]}}}},
    {"livenessProbe": {"exec": {"command": ["rm", "-rf", "/data"]}}},
    {"readinessProbe": {"exec": {"command": ["dd", "if=/dev/zero", "of=/dev/sda"]}}},
    {"startupProbe": {"exec": {"command": ["sh", "-c", "mkfs /dev/sda"]}}},
]


@pytest.mark.parametrize("handler", HOOKS_AND_PROBES, ids=["postStart", "preStop", "liveness", "readiness", "startup"])
def test_a_denied_command_in_a_lifecycle_hook_or_an_exec_probe_is_refused(handler: dict[str, Any]) -> None:
    """The kubelet runs a hook's or a probe's exec command in the container: it is a command line like the
    container's own, whatever the container's command."""
    refused = evaluate([SAFE_EXEC], create(), pod(command=["sleep", "3600"], **handler))
    assert refused.effect is Effect.DENY, refused
    assert "matches the denied exec command pattern" in refused.message
    name = next(iter(handler))
    assert f"spec.containers[0] (main).{name}" in refused.message
    in_workload = evaluate(
        [SAFE_EXEC], create("/apis/apps/v1/namespaces/a/deployments"), workload(command=["sleep", "1"], **handler)
    )
    assert in_workload.effect is Effect.DENY, in_workload


@pytest.mark.parametrize("handler", HOOKS_AND_PROBES[:3], ids=["postStart", "preStop", "liveness"])
def test_a_hook_or_probe_set_by_a_merging_or_json_patch_is_checked(handler: dict[str, Any]) -> None:
    """A patch that only adds a hook or probe (no command, no args) still says that hook's whole command line."""
    deployment = parse_request("PATCH", "/apis/apps/v1/namespaces/a/deployments/w")
    merging = body({"spec": {"template": {"spec": {"containers": [{"name": "app", **handler}]}}}}, SMP)
    assert evaluate([SAFE_EXEC], deployment, merging).effect is Effect.DENY
    ((name, value),) = handler.items()
    operation = {"op": "add", "path": f"/spec/template/spec/containers/0/{name}", "value": value}
    assert evaluate([SAFE_EXEC], deployment, body([operation], "application/json-patch+json")).effect is Effect.DENY
    deep = {"op": "add", "path": f"/spec/template/spec/containers/0/{name}/exec", "value": {"command": ["true"]}}
    if name == "lifecycle":
        deep["path"] = f"/spec/template/spec/containers/0/{name}/postStart"
        deep["value"] = {"exec": {"command": ["rm", "-rf", "/"]}}
    assert evaluate([SAFE_EXEC], deployment, body([deep], "application/json-patch+json")).effect is Effect.DENY


def test_an_allowed_hook_and_probe_pass() -> None:
    fine = pod(
        command=["sleep", "3600"],
        lifecycle={"preStop": {"exec": {"command": ["sleep", "5"]}}, "postStart": {"httpGet": {"port": 80}}},
        livenessProbe={"exec": {"command": ["cat", "/etc/hostname"]}},
        readinessProbe={"tcpSocket": {"port": 80}},
    )
    assert evaluate([NO_SHELLS], create(), fine).effect is Effect.ALLOW


def test_the_environment_counts_toward_the_cap_on_what_one_request_has_analysed() -> None:
    """Each command line is analysed with its container's environment (and a container's hooks and probes each
    with it again): the text analysed for one request, environments included, is capped, or a body of a few
    containers with long env values and many probes would cost the gateway many times one exec's analysis."""
    value = "a" * (16 * 1024 - 64)
    probes = {name: {"exec": {"command": ["true"]}} for name in ("livenessProbe", "readinessProbe", "startupProbe")}
    containers = [
        {"name": f"c{i}", "image": "busybox", "command": ["true"], "env": [{"name": "X", "value": value}], **probes}
        for i in range(2)
    ]
    found = extract_pod_commands(create(), body({"spec": {"containers": containers}}))
    assert any("characters together" in reason for reason in found.unknown), found.unknown
    assert evaluate([SAFE_EXEC], create(), body({"spec": {"containers": containers}})).effect is Effect.DENY


@pytest.mark.parametrize(
    "name", ["BASH_ENV", "ENV", "LD_PRELOAD", "PROMPT_COMMAND", "BASH_FUNC_true%%", "NODE_OPTIONS"]
)
def test_a_code_carrying_variable_whose_value_comes_at_run_time_cannot_be_checked(name: str) -> None:
    """`BASH_ENV` from a ConfigMap (`valueFrom`), with the script in a ConfigMap volume, runs code no pattern sees,
    exactly like a literal `BASH_ENV=/cfg/script`, which is refused: a code carrier with an unknown value is refused
    when failing closed. An ordinary variable from a Secret is fine."""
    from_config = {"name": name, "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}
    refused = evaluate([SAFE_EXEC], create(), pod(command=["bash", "-c", "true"], env=[from_config]))
    assert refused.effect is Effect.DENY, refused
    assert name in refused.message
    password = {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    assert evaluate([SAFE_EXEC], create(), pod(command=["bash", "-c", "true"], env=[password])).effect is Effect.ALLOW
