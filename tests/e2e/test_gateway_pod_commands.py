"""Every way to run a command in a pod goes through the exec guardrail, with real kubectl through the real gateway:
``kubectl attach`` and ``kubectl debug -it ... -- sh`` are refused when interactive shells are not allowed,
``kubectl debug``, ``kubectl run`` and ``kubectl apply`` are refused when a container's command is denied, and
allowed commands pass. A refused request never reaches kube-apiserver: the cluster (read as admin) shows no new
container, pod or deployment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.kwok import NODE_NAME
from tests.conftest import Kubectl
from tests.e2e.gateway_env import GATEWAY_POLICY, GatewayEnv, module_gateway_env, namespace_with_pod

REFUSED = "refused in a JIT session"
POD_OPS = """\
    - name: pod-ops
      rules:
        - {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list, watch, create, delete, patch]}
        - {apiGroups: [""], resources: [pods/attach, pods/exec], verbs: [create, get]}
        - {apiGroups: [""], resources: [pods/ephemeralcontainers], verbs: [get, patch, update]}
        - {apiGroups: [apps], resources: [deployments], verbs: [get, list, watch, create, patch, update]}
      namespaces: ["p-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      allowRisks:
        - {id: pods-exec, justification: "kubectl debug through the gateway, which checks the command"}
        - {id: pods-attach, justification: "attach through the gateway, which refuses it without shells"}
        - {id: pods-create, justification: test workloads}
        - {id: workloads-create, justification: test workloads}
      guardrails: [no-shells]
"""
NO_SHELLS = f"""\
    - name: no-shells
      exec:
        denyCommands: ["rm -rf", "mkfs", "dd"]
        allowInteractiveShells: false
        message: {REFUSED}
"""
POLICY = GATEWAY_POLICY.replace("  profiles:\n", f"  profiles:\n{POD_OPS}", 1).replace(
    "  guardrails:\n", f"  guardrails:\n{NO_SHELLS}", 1
)


env = module_gateway_env("podcmd", policy=POLICY)


@pytest.fixture
def ns(devcluster: DevCluster) -> str:
    return namespace_with_pod(devcluster, "p", stdin=True)


@pytest.fixture
def session(env: GatewayEnv, ns: str) -> Path:
    grant = env.grant("alice", "pod-ops", ns)
    return env.kubeconfig(env.token("alice", grant), ns)


def ephemeral_commands(kubectl: Kubectl, ns: str) -> list[list[str]]:
    pod = json.loads(kubectl("get", "pod", "app", "-n", ns, "-o", "json").stdout)
    return [c.get("command", []) for c in pod["spec"].get("ephemeralContainers", [])]


def exists(kubectl: Kubectl, ns: str, *what: str) -> bool:
    return kubectl("get", *what, "-n", ns, check=False).returncode == 0


@pytest.mark.parametrize("websocket", ["true", "false"], ids=["websocket", "spdy"])
def test_attach_is_refused_when_interactive_shells_are_not_allowed(
    env: GatewayEnv, session: Path, websocket: str
) -> None:
    attached = env.kubectl(
        session, "attach", "app", "-i", input_text="", env={"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websocket}, timeout=30
    )
    assert attached.returncode != 0
    assert "kubectl attach joins the container's main process" in attached.stderr, attached.stderr


def test_kubectl_debug_with_a_shell_or_a_denied_command_is_refused(
    env: GatewayEnv, session: Path, ns: str, kubectl: Kubectl
) -> None:
    shell = env.kubectl(session, "debug", "app", "-it", "--image=busybox", "--", "sh", input_text="", timeout=30)
    assert shell.returncode != 0
    assert "interactive shells are not allowed" in shell.stderr, shell.stderr
    entrypoint = env.kubectl(session, "debug", "app", "-it", "--image=busybox", input_text="", timeout=30)
    assert entrypoint.returncode != 0
    assert "runs its image's entrypoint, which cannot be checked" in entrypoint.stderr, entrypoint.stderr
    denied = env.kubectl(session, "debug", "app", "--image=busybox", "--", "rm", "-rf", "/")
    assert denied.returncode != 0
    assert f"{REFUSED}: spec.ephemeralContainers[0]" in denied.stderr, denied.stderr
    assert "matches the denied exec command pattern 'rm -rf'" in denied.stderr
    assert ephemeral_commands(kubectl, ns) == []  # nothing reached kube-apiserver
    allowed = env.kubectl(session, "debug", "app", "--image=busybox", "--", "ls", "/")
    assert allowed.returncode == 0, allowed.stderr
    assert ephemeral_commands(kubectl, ns) == [["ls", "/"]]


def test_kubectl_run_with_a_denied_command_is_refused(
    env: GatewayEnv, session: Path, ns: str, kubectl: Kubectl
) -> None:
    for name, separator in (("with-command", ["--command", "--"]), ("with-args", ["--"])):
        refused = env.kubectl(session, "run", name, "--image=busybox", "--restart=Never", *separator, "rm", "-rf", "/")
        assert refused.returncode != 0
        assert f"{REFUSED}: spec.containers[0] ({name})" in refused.stderr, refused.stderr
        assert not exists(kubectl, ns, "pod", name)
    allowed = env.kubectl(
        session, "run", "fine", "--image=busybox", "--restart=Never", "--command", "--", "sleep", "60"
    )
    assert allowed.returncode == 0, allowed.stderr
    assert exists(kubectl, ns, "pod", "fine")


def deployment(ns: str, command: list[str], args: list[str] | None = None) -> str:
    container = {"name": "worker", "image": "busybox", "command": command}
    if args is not None:
        container["args"] = args
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "worker", "namespace": ns},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "worker"}},
                "template": {
                    "metadata": {"labels": {"app": "worker"}},
                    "spec": {"containers": [container]},
                },
            },
        }
    )


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
def test_applying_a_workload_whose_command_is_denied_is_refused(
    env: GatewayEnv, session: Path, ns: str, kubectl: Kubectl, server_side: bool
) -> None:
    apply = ["apply", "-f", "-", *(["--server-side"] if server_side else [])]
    # Server-side apply merges into the stored object (fields other managers own stay): it must say both command
    # and args, [] for none.
    args = [] if server_side else None
    refused = env.kubectl(session, *apply, input_text=deployment(ns, ["sh", "-c", "true && rm -rf /data"], args))
    assert refused.returncode != 0
    assert f"{REFUSED}: spec.template.spec.containers[0] (worker)" in refused.stderr, refused.stderr
    assert not exists(kubectl, ns, "deployment", "worker")
    if server_side:
        partial = env.kubectl(session, *apply, input_text=deployment(ns, ["sleep", "3600"]))
        assert "sets command but not both command and args" in partial.stderr, partial.stderr
    allowed = env.kubectl(session, *apply, input_text=deployment(ns, ["sleep", "3600"], args))
    assert allowed.returncode == 0, allowed.stderr
    patched = env.kubectl(
        session,
        "patch",
        "deployment",
        "worker",
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/args", "value": ["-rf", "/"]}]),
    )
    assert patched.returncode != 0
    assert "not both command and args" in patched.stderr, patched.stderr
    stored = kubectl("get", "deployment", "worker", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0]}")
    assert json.loads(stored.stdout).get("args") is None


def test_a_denied_command_in_a_lifecycle_hook_or_a_probe_is_refused(
    env: GatewayEnv, session: Path, ns: str, kubectl: Kubectl
) -> None:
    """The kubelet runs hooks' and exec probes' commands in the container: `kubectl apply` of a pod whose own
    command is harmless but whose postStart hook or liveness probe is denied is refused, and so is a patch that
    adds such a probe to a deployment."""

    def hooked(name: str, **handler: object) -> str:
        container = {"name": "main", "image": "busybox", "command": ["sleep", "3600"], **handler}
        spec = {"nodeName": NODE_NAME, "containers": [container]}
        return json.dumps(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec}
        )

    rm = {"exec": {"command": ["sh", "-c", "rm -rf /data"]}}
    for name, handler in (("hook", {"lifecycle": {"postStart": rm}}), ("probe", {"livenessProbe": rm})):
        refused = env.kubectl(session, "apply", "-f", "-", input_text=hooked(name, **handler))
        assert refused.returncode != 0
        assert f"{REFUSED}: spec.containers[0] (main)." in refused.stderr, refused.stderr
        assert not exists(kubectl, ns, "pod", name)
    fine = {"livenessProbe": {"exec": {"command": ["cat", "/etc/hostname"]}}}
    allowed = env.kubectl(session, "apply", "-f", "-", input_text=hooked("fine", **fine))
    assert allowed.returncode == 0, allowed.stderr
    assert env.kubectl(session, "apply", "-f", "-", input_text=deployment(ns, ["sleep", "3600"])).returncode == 0
    probe = {"spec": {"template": {"spec": {"containers": [{"name": "worker", "readinessProbe": rm}]}}}}
    patched = env.kubectl(session, "patch", "deployment", "worker", "-p", json.dumps(probe))
    assert patched.returncode != 0
    assert "spec.template.spec.containers[0] (worker).readinessProbe" in patched.stderr, patched.stderr
    stored = kubectl("get", "deployment", "worker", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0]}")
    assert "readinessProbe" not in json.loads(stored.stdout)
