"""CI identities against the real control plane: a Kubernetes ServiceAccount token from TokenRequest (audience
kubejit) is accepted by the broker as the issuer ``ci`` (usernamePrefix/groupsPrefix ``ci:``), fetching the
ServiceAccount issuer's discovery document and keys from kube-apiserver; a policy rule on its claims auto-approves
a short request and not a longer one; a staff token from the dev issuer (prefix ``staff:``) cannot pass as the CI
identity, whatever it claims; and kubectl through the gateway works for the CI identity with
``kubejit kubeconfig --grant``. Also: kube-apiserver answers anonymous requests only on the two discovery paths."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubejit.devcluster.cluster import SERVICE_ACCOUNT_ISSUER, DevCluster
from kubejit.devcluster.users import dev_user
from kubejit.transport import trust_context
from tests.conftest import eventually
from tests.e2e.conftest import KUBEJIT
from tests.e2e.gateway_env import GatewayEnv, gateway_env

CI_NAMESPACE = f"ci-{uuid.uuid4().hex[:8]}"
CLAIMS = ["kubernetes.io/namespace", "kubernetes.io/serviceaccount/name"]
CI_POLICY = f"""\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {{name: ci-e2e}}
spec:
  admins: {{groups: ["staff:platform-admins"]}}
  auditors: {{groups: ["staff:auditors"]}}
  defaults: {{defaultDuration: 5m, maxDuration: 4h, pendingTimeout: 1h}}
  profiles:
    - name: ci-deploy
      rules:
        - {{apiGroups: [""], resources: [pods], verbs: [get, list]}}
      namespaces: ["t-*"]
      requesters:
        claims: [{{kubernetes.io/namespace: {CI_NAMESPACE}, kubernetes.io/serviceaccount/name: "deploy*"}}]
      approval:
        approvers: {{groups: ["staff:payments-leads"]}}
        autoApprove:
          claims: [{{kubernetes.io/namespace: {CI_NAMESPACE}, kubernetes.io/serviceaccount/name: "deploy*"}}]
          maxDuration: 10m
      reason: {{required: false}}
"""


def issuers(cluster: DevCluster, directory: Path) -> list[dict[str, Any]]:
    ca_file = str(directory / "dev-ca.crt")  # the cluster CA, written by broker_config
    return [
        {
            "name": "staff",
            "issuer": cluster.issuer.url,
            "audience": cluster.issuer.audience,
            "caFile": ca_file,
            "usernamePrefix": "staff:",
            "groupsPrefix": "staff:",
        },
        {
            "name": "ci",
            "issuer": SERVICE_ACCOUNT_ISSUER,
            "discoveryUrl": cluster.service_account_discovery_url,
            "audience": "kubejit",
            "caFile": ca_file,
            "usernamePrefix": "ci:",
            "groupsPrefix": "ci:",
            "policyClaims": CLAIMS,
        },
    ]


@pytest.fixture(scope="module")
def env(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayEnv]:
    devcluster.kubectl("create", "namespace", CI_NAMESPACE, check=True)
    devcluster.kubectl("create", "serviceaccount", "deployer", "-n", CI_NAMESPACE, check=True)
    devcluster.kubectl("create", "serviceaccount", "tester", "-n", CI_NAMESPACE, check=True)
    directory = tmp_path_factory.mktemp("ci-identity")
    with gateway_env(
        devcluster, directory, name="ci-identity", policy=CI_POLICY, broker_oidc=issuers(devcluster, directory)
    ) as environment:
        yield environment


@pytest.fixture
def target(namespace: str) -> str:
    """The namespace a CI job asks access to (one per test)."""
    return namespace


def service_account_token(cluster: DevCluster, name: str = "deployer") -> str:
    """A token from the TokenRequest API, as a CI job in the cluster gets one (projected, audience kubejit)."""
    made = cluster.kubectl(
        "create", "token", name, "-n", CI_NAMESPACE, "--audience", "kubejit", "--duration", "10m", check=True
    )
    return made.stdout.strip()


def kubejit(env: GatewayEnv, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "KUBEJIT_SERVER": env.broker.url, "KUBEJIT_TOKEN": token}
    return subprocess.run([KUBEJIT, *args], capture_output=True, text=True, env=environment, timeout=120)


def kubejit_json(env: GatewayEnv, token: str, *args: str) -> Any:
    result = kubejit(env, token, *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_kube_apiserver_answers_anonymous_requests_only_on_the_discovery_paths(devcluster: DevCluster) -> None:
    context = trust_context(cadata=devcluster.ca.cert_pem)
    with httpx.Client(base_url=devcluster.server_url, verify=context, timeout=5) as anonymous:
        discovery = anonymous.get("/.well-known/openid-configuration")
        assert discovery.status_code == 200, discovery.text
        assert discovery.json()["issuer"] == SERVICE_ACCOUNT_ISSUER
        assert discovery.json()["jwks_uri"] == f"{devcluster.server_url}/openid/v1/jwks"
        assert anonymous.get("/openid/v1/jwks").status_code == 200
        for path in ("/api/v1/namespaces", "/version", "/apis", "/openid/v1/jwks/../../api"):
            assert anonymous.get(path).status_code == 401, path


def test_the_broker_sees_the_service_account_with_its_prefix_and_claims(env: GatewayEnv) -> None:
    me = kubejit_json(env, service_account_token(env.cluster), "whoami")
    assert me == {
        "user": f"ci:system:serviceaccount:{CI_NAMESPACE}:deployer",
        "groups": [],  # a ServiceAccount token carries no groups claim
        "claims": {"kubernetes.io/namespace": CI_NAMESPACE, "kubernetes.io/serviceaccount/name": "deployer"},
    }
    staff = kubejit_json(env, env.cluster.mint_token("carol"), "whoami")
    assert staff["user"] == "staff:carol"
    assert "staff:payments-leads" in staff["groups"]


def test_a_short_request_is_auto_approved_by_claims_and_kubectl_works_through_the_gateway(
    env: GatewayEnv, target: str, tmp_path: Path
) -> None:
    token = service_account_token(env.cluster)
    created = kubejit_json(env, token, "request", "ci-deploy", "-n", target, "--for", "5m")
    assert created["autoApproved"] is True, created
    grant_id = created["id"]
    assert eventually(lambda: kubejit_json(env, token, "get", grant_id)["state"] == "active", timeout=20)

    events = env.audit(grant_id)
    auto = next(e for e in events if e["kind"] == "request.auto-approved")
    assert auto["data"] == {
        "maxDuration": "10m",
        "claims": {"kubernetes.io/namespace": CI_NAMESPACE, "kubernetes.io/serviceaccount/name": "deployer"},
    }

    kubeconfig = tmp_path / "ci.kubeconfig"
    made = kubejit(env, token, "kubeconfig", "--grant", grant_id, "-o", str(kubeconfig))
    assert made.returncode == 0, made.stderr
    plugin_env = {"KUBEJIT_SERVER": env.broker.url, "KUBEJIT_TOKEN": token}
    listed = env.kubectl(kubeconfig, "get", "pods", "-n", target, env=plugin_env)
    assert listed.returncode == 0, listed.stderr
    elsewhere = env.kubectl(kubeconfig, "get", "pods", "-n", CI_NAMESPACE, env=plugin_env)
    assert elsewhere.returncode != 0


def test_a_longer_request_waits_for_approvers_and_says_why(env: GatewayEnv, target: str) -> None:
    token = service_account_token(env.cluster)
    created = kubejit_json(env, token, "request", "ci-deploy", "-n", target, "--for", "30m")
    assert (created["state"], created["autoApproved"]) == ("pending", False)
    assert created["notes"] == [
        "not auto-approved: 30m is longer than autoApprove.maxDuration (10m), so it waits for approvers"
    ]
    submitted = next(e for e in env.audit(created["id"]) if e["kind"] == "request.submitted")
    assert submitted["data"]["autoApproval"]["notAutoApproved"].startswith("30m is longer")
    shown = kubejit(env, token, "request", "ci-deploy", "-n", target, "--for", "20m")  # the text output says so too
    assert shown.returncode == 0, shown.stderr
    assert "note: not auto-approved: 20m is longer than autoApprove.maxDuration (10m)" in shown.stderr


def test_another_service_account_is_not_the_ci_identity(env: GatewayEnv, target: str) -> None:
    refused = kubejit(env, service_account_token(env.cluster, "tester"), "request", "ci-deploy", "-n", target)
    assert refused.returncode != 0
    assert "may not request profile ci-deploy" in refused.stderr


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": f"system:serviceaccount:{CI_NAMESPACE}:deployer"},
        {"sub": f"ci:system:serviceaccount:{CI_NAMESPACE}:deployer"},
        {"kubernetes.io": {"namespace": CI_NAMESPACE, "serviceaccount": {"name": "deployer"}}},
        {"iss": SERVICE_ACCOUNT_ISSUER},
    ],
    ids=["sa-name", "ci-prefixed-name", "sa-claims", "sa-issuer"],
)
def test_a_staff_token_cannot_pass_as_the_ci_identity(env: GatewayEnv, target: str, claims: dict[str, Any]) -> None:
    forged = env.cluster.issuer.mint(dev_user("carol"), extra_claims=claims)
    result = kubejit(env, forged, "request", "ci-deploy", "-n", target, "--for", "5m")
    assert result.returncode != 0, result.stdout
    if "iss" in claims:  # signed by the dev issuer's key, which the ServiceAccount issuer does not publish
        assert f"which {SERVICE_ACCOUNT_ISSUER} does not publish" in result.stderr
    else:
        assert "may not request profile ci-deploy" in result.stderr
        assert "staff:" in result.stderr
