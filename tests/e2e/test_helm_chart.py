"""The Helm chart ``charts/kubejit`` with a real helm (built from the Go module proxy) and the real control plane.

``helm lint``/``template`` and the schema's refusals need no cluster; the rendered RBAC is compared with what
``kubejit policy rbac`` generates for the same policy, the rendered configs are loaded with kubejit's own config
models, and the generated keys with the broker's own loaders. Then the chart goes to kube-apiserver:
``kubectl apply --dry-run=server`` and a real ``helm install`` (objects created; pods Running on the kwok node
when the dev cluster runs kube-scheduler and the workload controllers).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kubejit.adapters.grant_tokens import load_or_create_key
from kubejit.adapters.kube.bindings import RbacBindings
from kubejit.adapters.kube.checkpoint import load_signing_key
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.install import broker_rbac, gateway_rbac
from kubejit.adapters.no_bindings import NoBindings
from kubejit.adapters.policy_file import load_policy
from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.config import load_config, load_gateway_config
from kubejit.devcluster import configfiles
from kubejit.devcluster.authorization import AuthorizationWebhook, authorization_configuration, webhook_kubeconfig
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.helm import ensure_helm
from kubejit.devcluster.in_cluster import request_token
from kubejit.entrypoints.cli.main import build_app
from tests.conftest import Kubectl, eventually

CHART = Path(__file__).resolve().parents[2] / "charts" / "kubejit"
MINIMAL = CHART / "ci" / "minimal-values.yaml"
Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]
# kube-apiserver's webhook token: only its sha256 is ever given to the chart.
WEBHOOK_TOKEN = "webhook-token-only-kube-apiserver-holds-0123456789"
WEBHOOK_HASH = hashlib.sha256(WEBHOOK_TOKEN.encode()).hexdigest()
WEBHOOK_ON = (
    f"--set=broker.authorizationWebhook.enabled=true,broker.authorizationWebhook.clientTokenSha256={WEBHOOK_HASH}"
)


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = ensure_helm(log=print)
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, **{f"HELM_{d}_HOME": str(home / d.lower()) for d in ("CACHE", "CONFIG", "DATA")}}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=120)

    return run


@pytest.fixture
def render(helm: Callable[..., subprocess.CompletedProcess[str]]) -> Render:
    """``helm template`` of the chart with the minimal values plus ``args``; fails the test if helm does."""

    def run(*args: str, namespace: str = "kubejit-system", values: Path = MINIMAL) -> list[Manifest]:
        result = helm("template", "kubejit", str(CHART), "-n", namespace, "-f", str(values), *args)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return run


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def minimal_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MINIMAL.read_text())
    return loaded


# -- helm lint / template -----------------------------------------------------------------------------------


def test_lint_and_lint_strict_pass(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    for strict in ((), ("--strict",)):
        result = helm("lint", str(CHART), "-f", str(MINIMAL), *strict)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout


def test_default_render_has_the_broker_the_gateway_and_a_restricted_security_context(render: Render) -> None:
    manifests = render()
    broker = one(manifests, "Deployment", "kubejit-broker")
    assert broker["spec"]["replicas"] == 2
    assert broker["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    one(manifests, "Deployment", "kubejit-gateway")
    for kind in ("Service", "PodDisruptionBudget", "ServiceAccount"):
        assert {m["metadata"]["name"] for m in find(manifests, kind)} == {"kubejit-broker", "kubejit-gateway"}
    assert not find(manifests, "NetworkPolicy") + find(manifests, "ServiceMonitor") + find(manifests, "Certificate")
    image = f"ghcr.io/kubejit/kubejit:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"
    for deployment in find(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "podAntiAffinity" in pod["affinity"]
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert container["image"] == image
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}


def test_broker_takes_the_database_url_from_the_secret_and_the_keys_read_only_apart(render: Render) -> None:
    pod = one(render(), "Deployment", "kubejit-broker")["spec"]["template"]["spec"]
    (broker,) = pod["containers"]
    env = {e["name"]: e for e in broker["env"]}
    assert env["KUBEJIT_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "kubejit-database", "key": "url"}
    assert not any("database" in arg for arg in broker["args"])  # kubejit serve reads the variable: not in ps
    mounts = {m["name"]: m for m in broker["volumeMounts"]}
    assert all(mounts[name]["readOnly"] for name in ("keys", "policy", "config", "tls"))
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["keys-secret"]["secret"] == {"secretName": "kubejit-keys", "defaultMode": 0o400}
    assert volumes["keys"]["emptyDir"]["medium"] == "Memory"


def test_every_option_on_renders_network_policies_monitors_and_a_certificate(render: Render) -> None:
    manifests = render(
        "--set=networkPolicy.enabled=true,metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true",
        "--set=tls.existingSecret=,tls.certManager.enabled=true,tls.certManager.issuerRef.name=ca",
        '--set-json=networkPolicy.brokerFrom=[{"namespaceSelector":{}}]',
        "--set=database.existingSecret.name=,database.url=postgresql+psycopg://kubejit@db:5432/kubejit",
        "--set=image.digest=sha256:" + "a" * 64,
        "--set=broker.podAntiAffinity=hard,gateway.enabled=true",
    )
    assert {m["metadata"]["name"] for m in find(manifests, "NetworkPolicy")} == {"kubejit-broker", "kubejit-gateway"}
    one(manifests, "ServiceMonitor", "kubejit-broker")
    one(manifests, "PodMonitor", "kubejit-broker")
    gateway_monitor = one(manifests, "PodMonitor", "kubejit-gateway")
    assert gateway_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    gateway_pod = one(manifests, "Deployment", "kubejit-gateway")["spec"]["template"]["spec"]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in gateway_pod["containers"][0]["ports"]
    gateway_policy = next(m for m in find(manifests, "NetworkPolicy") if m["metadata"]["name"] == "kubejit-gateway")
    assert {"port": "metrics", "protocol": "TCP"} in gateway_policy["spec"]["ingress"][0]["ports"]
    certificate = one(manifests, "Certificate", "kubejit-tls")
    assert "kubejit-gateway.kubejit-system.svc" in certificate["spec"]["dnsNames"]
    database = one(manifests, "Secret", "kubejit-database")
    assert base64.b64decode(database["data"]["database-url"]).decode().startswith("postgresql+psycopg://")
    pod = one(manifests, "Deployment", "kubejit-broker")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "ghcr.io/kubejit/kubejit@sha256:" + "a" * 64
    assert "requiredDuringSchedulingIgnoredDuringExecution" in pod["affinity"]["podAntiAffinity"]
    assert pod["volumes"][-2]["secret"]["secretName"] == "kubejit-tls"


def test_the_gateways_probes_ask_its_monitoring_listener_when_it_is_on(render: Render) -> None:
    (gateway,) = one(render(), "Deployment", "kubejit-gateway")["spec"]["template"]["spec"]["containers"]
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics", "scheme": "HTTP"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics", "scheme": "HTTP"}
    assert "tcpSocket" not in gateway["readinessProbe"]
    (plain,) = one(render("--set=gateway.metrics.enabled=false"), "Deployment", "kubejit-gateway")["spec"]["template"][
        "spec"
    ]["containers"]
    assert plain["readinessProbe"] == {"tcpSocket": {"port": "https"}, "periodSeconds": 5}  # no listener to ask
    assert plain["livenessProbe"]["tcpSocket"] == {"port": "https"}
    assert "metrics" not in {port["name"] for port in plain["ports"]}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("broker.replicaCount=two", "at '/broker/replicaCount': got string, want integer"),
        ("broker.replicaCount=0", "at '/broker/replicaCount'"),
        ("broker.securityContext.readOnlyRootFilesystem=false", "readOnlyRootFilesystem': value must be true"),
        ("gateway.podSecurityContext.runAsNonRoot=false", "runAsNonRoot': value must be true"),
        ("broker.securityContext.allowPrivilegeEscalation=true", "allowPrivilegeEscalation': value must be false"),
        ("brokr.replicaCount=2", "additional properties 'brokr' not allowed"),
        ("broker.podAntiAffinity=sometimes", "at '/broker/podAntiAffinity'"),
        ("broker.leaderElection.leaseDuration=15 seconds", "at '/broker/leaderElection/leaseDuration'"),
        ("database.url=mysql://db/kubejit", "at '/database/url'"),
        ("gateway.publicUrl=http://gateway.example.com", "at '/gateway/publicUrl'"),
        ("broker.instance=Not_A_Name", "at '/broker/instance'"),
        ("tls.certManager.enabled=true", "at '/tls/certManager/issuerRef/name'"),
        # authorization-webhook mode: a hash (64 lower-case hex digits), never the token; none at all when enabled.
        ("broker.authorizationWebhook.clientTokenSha256=" + WEBHOOK_HASH.upper(), "clientTokenSha256': '"),
        ("broker.authorizationWebhook.clientTokenSha256=" + WEBHOOK_HASH[:63], "clientTokenSha256': '"),
        ("broker.authorizationWebhook.clientTokenSha256=" + WEBHOOK_TOKEN, "does not match pattern"),
        ("broker.authorizationWebhook.enabled=true", "at '/broker/authorizationWebhook/clientTokenSha256': minLength"),
        ("broker.authorizationWebhook.bindings=no", "at '/broker/authorizationWebhook/bindings'"),
        ("broker.authorizationWebhook.url=https://jit.example.com/review", "at '/broker/authorizationWebhook/url'"),
        ("broker.authorizationWebhook.failurePolicy=Allow", "at '/broker/authorizationWebhook/failurePolicy'"),
        ("broker.authorizationWebhook.token=x", "additional properties 'token' not allowed"),
        ("broker.console.publicUrl=http://jit.example.com", "at '/broker/console/publicUrl'"),
        ("broker.console.publicUrl=https://jit.example.com/console", "at '/broker/console/publicUrl'"),
        ("broker.console.issuer=Corp_IdP", "at '/broker/console/issuer'"),
        ("broker.console.enabled=yes", "at '/broker/console/enabled'"),
        ("gateway.consoleUrl=http://jit.example.com/console", "at '/gateway/consoleUrl'"),
    ],
)
def test_schema_refuses_a_bad_value_and_says_where(
    helm: Callable[..., subprocess.CompletedProcess[str]], setting: str, message: str
) -> None:
    result = helm("template", "kubejit", str(CHART), "-f", str(MINIMAL), f"--set={setting}")
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("--set-json=policy={}", "policy: set policy to your AccessPolicy"),
        ("--set=tls.existingSecret=", "tls: set tls.existingSecret"),
        ("--set=database.existingSecret.name=", "database: set database.existingSecret.name"),
    ],
)
def test_a_missing_required_value_is_a_clear_error(
    helm: Callable[..., subprocess.CompletedProcess[str]], setting: str, message: str
) -> None:
    result = helm("template", "kubejit", str(CHART), "-f", str(MINIMAL), setting)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_the_webhook_without_a_hash_is_refused_behind_the_schema_too(
    helm: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    args = ("--set=broker.authorizationWebhook.enabled=true", "--skip-schema-validation")
    result = helm("template", "kubejit", str(CHART), "-f", str(MINIMAL), *args)
    assert result.returncode != 0
    assert "broker.authorizationWebhook: enabled needs clientTokenSha256" in result.stderr, result.stderr
    assert "sha256sum" in result.stderr  # says how to make one


# -- what the chart renders is what kubejit itself would make --------------------------------------------------


def _rules_by_object(manifests: list[Manifest]) -> dict[tuple[str, str, str], Any]:
    rbac: dict[tuple[str, str, str], Any] = {}
    for m in manifests:
        if m["kind"] in ("ClusterRole", "Role"):
            rbac[(m["kind"], m["metadata"].get("namespace", ""), m["metadata"]["name"])] = m["rules"]
        elif m["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            key = (m["kind"], m["metadata"].get("namespace", ""), m["metadata"]["name"])
            rbac[key] = (m["roleRef"], m["subjects"])
    return rbac


def test_rbac_is_exactly_what_kubejit_policy_rbac_generates(render: Render) -> None:
    values = minimal_values()
    policy = load_policy(yaml.safe_dump(values["policy"]))
    expected = broker_rbac(policy, namespace="kubejit-system", service_account="kubejit-broker")
    expected = [m for m in expected if m["kind"] not in ("Namespace", "ServiceAccount")]
    gateway = gateway_rbac()
    gateway[1]["subjects"] = [{"kind": "ServiceAccount", "name": "kubejit-gateway", "namespace": "kubejit-system"}]
    rendered = [m for m in render() if m["kind"].endswith(("Role", "RoleBinding"))]

    assert _rules_by_object(rendered) == _rules_by_object(expected + gateway)
    bind = [r for r in one(rendered, "ClusterRole", "kubejit:broker")["rules"] if r["verbs"] == ["bind"]]
    assert bind == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["kubejit:profile:team-logs", "view"],
        }
    ]


def _config_file(manifests: list[Manifest], name: str, key: str, directory: Path) -> Path:
    path = directory / key
    path.write_text(one(manifests, "ConfigMap", name)["data"][key])
    return path


def test_rendered_configs_are_valid_kubejit_configs(render: Render, tmp_path: Path) -> None:
    manifests = render()
    broker = load_config(_config_file(manifests, "kubejit-broker", "kubejit.yaml", tmp_path))
    assert broker.kubernetes.kubeconfig is None
    assert broker.kubernetes.namespace == "kubejit-system"
    assert broker.seal_key_file == Path("/etc/kubejit/keys/request-seal.key")
    assert broker.audit.signing_key_file == Path("/etc/kubejit/keys/audit-signing.key")
    gateway = load_gateway_config(_config_file(manifests, "kubejit-gateway", "gateway.yaml", tmp_path))
    assert gateway.broker.url == "https://kubejit-broker.kubejit-system.svc:8443"
    assert gateway.metrics is not None
    assert gateway.metrics.listen == "0.0.0.0:9090"  # the pod address, for the PodMonitor
    assert load_policy(one(manifests, "ConfigMap", "kubejit-policy")["data"]["policy.yaml"]).name == "minimal"
    # Both sides of the gateway's client token agree.
    token = base64.b64decode(one(manifests, "Secret", "kubejit-gateway-client")["data"]["token"])
    assert broker.gateway is not None
    assert broker.gateway.client_token_sha256 == hashlib.sha256(token).hexdigest()


def _broker_config(manifests: list[Manifest], directory: Path) -> Any:
    return load_config(_config_file(manifests, "kubejit-broker", "kubejit.yaml", directory))


def _no_webhook_token_in(manifests: list[Manifest]) -> None:
    text = yaml.safe_dump_all(manifests)
    encoded = base64.b64encode(WEBHOOK_TOKEN.encode()).decode()
    assert WEBHOOK_TOKEN not in text
    assert encoded not in text


def test_the_authorization_webhook_is_off_by_default_and_on_renders_only_the_tokens_hash(
    render: Render, tmp_path: Path
) -> None:
    off = render()
    assert _broker_config(off, tmp_path).authorization_webhook is None
    assert not find(off, "ConfigMap", "kubejit-apiserver-authorization")

    on = render(WEBHOOK_ON)
    webhook = _broker_config(on, tmp_path).authorization_webhook
    assert webhook is not None
    assert webhook.client_token_sha256 == WEBHOOK_HASH
    assert webhook.bindings is False  # the default: grants bind nothing
    _no_webhook_token_in(on)
    for manifest in on:  # and no Secret holds it (base64) either
        for value in (manifest.get("data") or {}).values() if manifest["kind"] == "Secret" else ():
            assert WEBHOOK_TOKEN.encode() not in base64.b64decode(value)

    with_bindings = render(WEBHOOK_ON, "--set=broker.authorizationWebhook.bindings=true")
    webhook = _broker_config(with_bindings, tmp_path).authorization_webhook
    assert webhook is not None
    assert webhook.bindings is True


def test_kube_apiservers_files_are_those_kubejit_writes_for_its_own_control_plane(render: Render) -> None:
    """The AuthorizationConfiguration and the webhook kubeconfig the cluster's owner gives kube-apiserver, in the
    ConfigMap <fullname>-apiserver-authorization: the same documents as kubejit.devcluster.authorization (which the
    webhook e2e tests run), with the token left as a placeholder and the CA as a file to copy from the TLS Secret."""
    prefixed = '--set-json=oidc=[{"issuer":"https://idp.example.com","audience":"kubejit","usernamePrefix":"staff:"}]'
    url = "--set=broker.authorizationWebhook.url=https://jit-review.example.com:8443/"
    data = one(render(WEBHOOK_ON, prefixed, url), "ConfigMap", "kubejit-apiserver-authorization")["data"]
    kubeconfig_path = Path("/etc/kubernetes/kubejit-webhook.kubeconfig")
    expected = AuthorizationWebhook(url="https://jit-review.example.com:8443", token="", user_prefix="staff:")
    assert yaml.safe_load(data["authorization-config.yaml"]) == authorization_configuration(expected, kubeconfig_path)
    kubeconfig = yaml.safe_load(data["webhook.kubeconfig"])
    token = kubeconfig["users"][0]["user"].pop("token")
    assert token.startswith("<")  # a placeholder, never a token
    assert "clientTokenSha256" in token
    wanted = webhook_kubeconfig(expected)
    wanted["users"][0]["user"].pop("token")
    wanted["clusters"][0]["cluster"]["certificate-authority"] = "/etc/kubernetes/kubejit-ca.crt"
    assert kubeconfig == wanted

    # Defaults: the broker Service's DNS name, every non-system: user asked (no usernamePrefix), failurePolicy Deny.
    data = one(render(WEBHOOK_ON), "ConfigMap", "kubejit-apiserver-authorization")["data"]
    server = yaml.safe_load(data["webhook.kubeconfig"])["clusters"][0]["cluster"]["server"]
    assert server == "https://kubejit-broker.kubejit-system.svc:8443/api/v1/authorization/review"
    plain = AuthorizationWebhook(url="https://kubejit-broker.kubejit-system.svc:8443", token="")
    assert yaml.safe_load(data["authorization-config.yaml"]) == authorization_configuration(plain, kubeconfig_path)
    no_opinion = one(
        render(WEBHOOK_ON, "--set=broker.authorizationWebhook.failurePolicy=NoOpinion"),
        "ConfigMap",
        "kubejit-apiserver-authorization",
    )
    webhook = yaml.safe_load(no_opinion["data"]["authorization-config.yaml"])["authorizers"][0]["webhook"]
    assert webhook["failurePolicy"] == "NoOpinion"


def test_without_bindings_the_brokers_rbac_is_kubejit_policy_rbac_no_bindings(render: Render) -> None:
    values = minimal_values()
    policy = load_policy(yaml.safe_dump(values["policy"]))
    rendered = [m for m in render(WEBHOOK_ON) if m["kind"].endswith(("Role", "RoleBinding"))]
    gateway = gateway_rbac()
    gateway[1]["subjects"] = [{"kind": "ServiceAccount", "name": "kubejit-gateway", "namespace": "kubejit-system"}]
    expected = broker_rbac(policy, namespace="kubejit-system", service_account="kubejit-broker", bindings=False)
    expected = [m for m in expected if m["kind"] not in ("Namespace", "ServiceAccount")]
    assert _rules_by_object(rendered) == _rules_by_object(expected + gateway)
    broker_roles = [
        m for m in rendered if m["kind"].endswith("Role") and m["metadata"]["name"].startswith("kubejit:broker")
    ]
    broker_rules = [rule for role in broker_roles for rule in role["rules"]]
    assert not [r for r in broker_rules if {"bind", "escalate"} & set(r["verbs"])]
    on_bindings = [r for r in broker_rules if "rolebindings" in r.get("resources", ())]
    assert on_bindings == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings", "clusterrolebindings"],
            "verbs": ["list", "delete"],  # leftovers from RBAC mode are still found and deleted
        }
    ]
    assert not find(rendered, "Role", "kubejit:broker:bind")
    assert not [m for m in rendered if m["metadata"]["name"].startswith("kubejit:profile:")]  # nothing binds them
    # With bindings: true (or the webhook off) the broker binds again: the full RBAC of section 1.
    full = render(WEBHOOK_ON, "--set=broker.authorizationWebhook.bindings=true")
    full = [m for m in full if m["kind"].endswith(("Role", "RoleBinding"))]
    assert _rules_by_object(full) == _rules_by_object(
        [m for m in broker_rbac(policy) if m["kind"] not in ("Namespace", "ServiceAccount")] + gateway
    )


def test_kubejit_policy_rbac_no_bindings_prints_the_rbac_without_binding_rights(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(minimal_values()["policy"]))
    for flag, bindings in (("--no-bindings", False), ("--bindings", True), (None, True)):
        args = ["policy", "rbac", str(policy_file), *([flag] if flag else [])]
        result = CliRunner().invoke(build_app(), args)
        assert result.exit_code == 0, result.output
        expected = broker_rbac(load_policy(policy_file.read_text()), bindings=bindings)
        assert [m for m in yaml.safe_load_all(result.stdout) if m] == expected


def test_console_values_reach_the_broker_and_default_the_gateways_console_url(render: Render, tmp_path: Path) -> None:
    def gateway_console(*args: str) -> str | None:
        config = load_gateway_config(_config_file(render(*args), "kubejit-gateway", "gateway.yaml", tmp_path))
        return config.broker.console_url

    default = _broker_config(render(), tmp_path)
    assert default.console.enabled is True
    assert default.console.public_url is None
    assert gateway_console() is None  # no public URL known: refusals name the kubejit command only

    public = "--set=broker.console.publicUrl=https://jit.example.com/,broker.console.issuer=corp"
    broker = _broker_config(render(public), tmp_path)
    assert broker.console.public_url == "https://jit.example.com"
    assert broker.console.issuer == "corp"
    assert broker.console_url == "https://jit.example.com/console"
    assert gateway_console(public) == "https://jit.example.com/console"
    assert gateway_console(public, "--set=gateway.consoleUrl=https://portal.example.com/jit") == (
        "https://portal.example.com/jit"
    )

    off = _broker_config(render(public, "--set=broker.console.enabled=false"), tmp_path)
    assert off.console.enabled is False
    assert off.console_url is None
    assert gateway_console(public, "--set=broker.console.enabled=false") is None


def test_generated_keys_are_keys_the_broker_loads(render: Render, tmp_path: Path) -> None:
    data = one(render(), "Secret", "kubejit-keys")
    assert data["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for name, raw in data["data"].items():
        path = tmp_path / name
        path.touch(mode=0o600)
        path.write_bytes(base64.b64decode(raw))
    load_signing_key(tmp_path / "audit-signing.key")
    assert load_or_create_key(tmp_path / "gateway-signing.key").is_private
    assert len(load_or_create_seal_key(tmp_path / "request-seal.key")) == 32


def test_a_policy_change_reloads_the_broker_in_place_and_rolls_the_gateways(render: Render, tmp_path: Path) -> None:
    """The broker reads its mounted policy for changes (policyReloadInterval): a bad policy is refused there and
    the previous one keeps serving, so its pods are not rolled. The gateway reads the policy at start: it rolls."""

    def annotations(name: str) -> dict[str, str]:
        pod = one(render(values=changed), "Deployment", name)["spec"]["template"]["metadata"]
        return dict(pod.get("annotations") or {})

    changed = tmp_path / "values.yaml"
    values = minimal_values()
    changed.write_text(yaml.safe_dump(values))
    assert "checksum/policy" not in annotations("kubejit-broker")
    config = yaml.safe_load(one(render(values=changed), "ConfigMap", "kubejit-broker")["data"]["kubejit.yaml"])
    assert "policyReloadInterval" not in config  # the broker's default: the watch is on
    before = annotations("kubejit-gateway")
    # Same policy, same gateway pods. (The config's checksum holds the gateway client token's hash: random in `helm
    # template`, kept from the cluster on upgrade, see test_helm_upgrade_with_the_same_values_rolls_nothing.)
    assert before["checksum/policy"] == annotations("kubejit-gateway")["checksum/policy"]
    values["policy"]["spec"]["profiles"][0]["namespaces"] = ["team-b"]
    changed.write_text(yaml.safe_dump(values))
    assert annotations("kubejit-gateway")["checksum/policy"] != before["checksum/policy"]
    assert "checksum/policy" not in annotations("kubejit-broker")


# -- against the real control plane ---------------------------------------------------------------------------


def _values_for(namespace: str, directory: Path, **broker: Any) -> Path:
    values = minimal_values()
    if broker:
        values["broker"] = broker
    values["policy"]["spec"]["profiles"][1]["role"]["namespace"] = namespace
    values["policy"]["spec"]["profiles"][1]["namespaces"] = [namespace]
    values["fullnameOverride"] = f"kj-{namespace}"[:40]
    path = directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _prerequisites(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "secret", "generic", "kubejit-database", "-n", namespace, "--from-literal=url=postgresql://x")
    kubectl(
        "create", "secret", "generic", "kubejit-tls", "-n", namespace,
        "--from-literal=tls.crt=x", "--from-literal=tls.key=x", "--from-literal=ca.crt=x",
    )  # fmt: skip


def test_rendered_chart_passes_server_side_dry_run(
    render: Render, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    manifests = render("--set=networkPolicy.enabled=true", namespace=namespace, values=_values_for(namespace, tmp_path))
    applied = kubectl("apply", "--dry-run=server", "-f", "-", input_text=yaml.safe_dump_all(manifests))
    assert applied.stdout.count("(server dry run)") == len(manifests), applied.stdout


@pytest.fixture
def installed(
    helm: Callable[..., subprocess.CompletedProcess[str]],
    devcluster: DevCluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> Iterator[str]:
    _prerequisites(kubectl, namespace)
    kubeconfig = f"--kubeconfig={devcluster.admin_kubeconfig}"
    values = _values_for(namespace, tmp_path)
    result = helm("install", "kubejit", str(CHART), "-n", namespace, "-f", str(values), kubeconfig)
    assert result.returncode == 0, result.stderr
    yield f"kj-{namespace}"[:40]
    helm("uninstall", "kubejit", "-n", namespace, kubeconfig)


def test_helm_upgrade_with_the_same_values_rolls_nothing_and_keeps_the_secrets(
    installed: str,
    helm: Callable[..., subprocess.CompletedProcess[str]],
    devcluster: DevCluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    def state() -> tuple[object, ...]:
        template = json.loads(kubectl("get", "deployment", f"{installed}-broker", "-n", namespace, "-o", "json").stdout)
        secrets = [
            json.loads(kubectl("get", "secret", name, "-n", namespace, "-o", "json").stdout)["data"]
            for name in (f"{installed}-keys", f"{installed}-gateway-client")
        ]
        return template["spec"]["template"]["metadata"]["annotations"], *secrets

    before = state()
    values = _values_for(namespace, tmp_path)
    upgraded = helm(
        "upgrade",
        "kubejit",
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(values),
        f"--kubeconfig={devcluster.admin_kubeconfig}",
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert state() == before


def test_helm_install_creates_every_object(installed: str, kubectl: Kubectl, namespace: str) -> None:
    for kind in ("deployment", "service", "poddisruptionbudget", "serviceaccount", "configmap"):
        names = kubectl("get", kind, "-n", namespace, "-o", "name").stdout.split()
        assert any(installed in name for name in names), (kind, names)
    kubectl("get", "secret", f"{installed}-keys", f"{installed}-gateway-client", "-n", namespace)
    kubectl("get", "clusterrole", f"{installed}:broker", f"{installed}:gateway", "kubejit:profile:team-logs")
    kubectl("get", "role", f"{installed}:broker", f"{installed}:broker:bind", "-n", namespace)
    sa = f"system:serviceaccount:{namespace}:{installed}-broker"
    can = kubectl("auth", "can-i", "bind", "clusterroles/view", f"--as={sa}", check=False).stdout.strip()
    assert can == "yes"
    for denied in (("bind", "clusterroles/cluster-admin"), ("get", "secrets", "-n", namespace)):
        assert kubectl("auth", "can-i", *denied, f"--as={sa}", check=False).stdout.strip() == "no", denied


def test_helm_install_pods_reach_running_on_the_kwok_node(
    installed: str, devcluster: DevCluster, kubectl: Kubectl, namespace: str
) -> None:
    if not (devcluster.with_scheduler and devcluster.with_kwok):
        pytest.skip("this dev cluster runs no kube-scheduler or no kwok node: Deployments get no running pods")

    def pods() -> list[Manifest]:
        listed = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        return [p for p in listed if p["metadata"]["name"].startswith(installed)]

    def running() -> bool:
        current = pods()
        return len(current) == 4 and all(p["status"].get("phase") == "Running" for p in current)

    assert eventually(running, timeout=60.0, interval=0.5), [(p["metadata"]["name"], p["status"]) for p in pods()]
    assert {p["spec"]["nodeName"] for p in pods()} == {"kwok-node"}


# -- authorization-webhook mode without bindings, installed ------------------------------------------------------


@pytest.fixture
def installed_webhook(
    helm: Callable[..., subprocess.CompletedProcess[str]],
    devcluster: DevCluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> Iterator[tuple[str, str]]:
    """The chart installed with the webhook on and bindings: false; yields (fullname, helm's install output)."""
    _prerequisites(kubectl, namespace)
    kubeconfig = f"--kubeconfig={devcluster.admin_kubeconfig}"
    webhook = {"enabled": True, "clientTokenSha256": WEBHOOK_HASH, "bindings": False}
    values = _values_for(namespace, tmp_path, instance="helm-webhook", authorizationWebhook=webhook)
    result = helm("install", "kubejit", str(CHART), "-n", namespace, "-f", str(values), kubeconfig)
    assert result.returncode == 0, result.stderr
    yield f"kj-{namespace}"[:40], result.stdout
    helm("uninstall", "kubejit", "-n", namespace, kubeconfig)


def _leftover_binding(kubectl: Kubectl, namespace: str, grant_id: str) -> None:
    """A RoleBinding as the broker made it in RBAC mode, before the switch to the webhook without bindings."""
    name = f"kubejit-{grant_id}"
    kubectl("create", "rolebinding", name, "-n", namespace, "--clusterrole=view", "--user=staff:alice")
    labels = [
        "app.kubernetes.io/managed-by=kubejit",
        "kubejit.io/instance=helm-webhook",
        f"kubejit.io/grant-id={grant_id}",
        "kubejit.io/profile=team-view",
    ]
    kubectl("label", "rolebinding", name, "-n", namespace, *labels)


def test_helm_install_with_the_webhook_and_no_bindings_lets_the_broker_only_remove_its_leftovers(
    installed_webhook: tuple[str, str], devcluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """Against kube-apiserver: the broker's ServiceAccount may list and delete bindings, and the broker's own
    adapter (NoBindings over RbacBindings, as bootstrap builds it) finds and removes a leftover with exactly that;
    it may not create, patch or bind anything."""
    fullname, output = installed_webhook
    account = f"{fullname}-broker"
    sa = f"system:serviceaccount:{namespace}:{account}"

    def can(*what: str) -> str:
        return kubectl("auth", "can-i", *what, f"--as={sa}", check=False).stdout.strip()

    for allowed in (("list", "rolebindings", "-A"), ("delete", "rolebindings", "-n", namespace)):
        assert can(*allowed) == "yes", allowed
    for denied in (
        ("create", "rolebindings", "-n", namespace),
        ("create", "clusterrolebindings"),
        ("patch", "rolebindings", "-n", namespace),
        ("bind", "clusterroles/view"),
        ("bind", "roles/deployer", "-n", namespace),
        ("escalate", "clusterroles"),
        ("get", "secrets", "-n", namespace),
    ):
        assert can(*denied) == "no", denied
    kubectl("get", "configmap", f"{fullname}-apiserver-authorization", "-n", namespace)
    kubectl("get", "role", f"{fullname}:broker", "-n", namespace)
    assert kubectl("get", "role", f"{fullname}:broker:bind", "-n", namespace, check=False).returncode != 0

    grant_id = "req-" + hashlib.sha256(namespace.encode()).hexdigest()[:12]
    _leftover_binding(kubectl, namespace, grant_id)
    token = request_token(devcluster, namespace, account, "10m")
    document = configfiles.kubeconfig(
        devcluster.server_url, devcluster.ca.cert_pem, sa, configfiles.token_credentials(token)
    )
    broker_kubeconfig = configfiles.write_yaml(tmp_path / "broker.kubeconfig", document, private=True)
    client = make_client(broker_kubeconfig)
    try:
        cluster = NoBindings(RbacBindings(client, instance="helm-webhook"))
        assert [ref.grant_id for ref in cluster.managed_bindings()] == [grant_id]
        assert [ref.name for ref in cluster.unbind(grant_id)] == [f"kubejit-{grant_id}"]
        assert cluster.managed_bindings() == []
    finally:
        client.close()
    refused = kubectl(
        "create", "rolebinding", "kubejit-req-0", "-n", namespace, "--clusterrole=view", "--user=x", f"--as={sa}",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr

    # helm's NOTES tell kube-apiserver's owner what to do, with the placeholder and never the token.
    assert "kind: AuthorizationConfiguration" in output
    assert f"get configmap {fullname}-apiserver-authorization" in output
    assert WEBHOOK_TOKEN not in output
