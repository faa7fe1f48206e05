"""Names that kube-apiserver would read differently (" alice" loses its space in an HTTP header) or that Kubernetes
keeps for itself (system:masters) are refused by the real broker and the real gateway, for ID tokens of the dev
issuer and for grant tokens signed with the broker's own key; the same tokens with ordinary names pass."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import tests.e2e.gateway_env as gateway_env_module
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.users import dev_user
from tests.e2e.conftest import BrokerSetup
from tests.e2e.gateway_env import GatewayEnv, gateway_env
from tests.e2e.test_gateway_security import assert_unauthenticated, broker_signer, claims_of, make_namespace, pods

BAD_IDENTITIES: dict[str, dict[str, Any]] = {
    "leading-space": {"sub": " alice"},
    "trailing-tab": {"sub": "alice\t"},
    "zero-width": {"sub": "ali\u200bce"},
    "system-user": {"sub": "system:admin"},
    "system-group": {"groups": ["payments-devs", "system:masters"]},
    "system-group-any-case": {"groups": ["System:Masters"]},
}


def id_token(cluster: DevCluster, changes: dict[str, Any]) -> str:
    return cluster.issuer.mint(dev_user("alice"), extra_claims=changes)


# ---- the broker ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", list(BAD_IDENTITIES.values()), ids=list(BAD_IDENTITIES))
def test_the_broker_refuses_an_id_token_with_a_bad_name(broker_setup: BrokerSetup, changes: dict[str, Any]) -> None:
    token = id_token(broker_setup.cluster, changes)
    reply = httpx.get(f"{broker_setup.broker.url}/api/v1/requests", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401, reply.text
    message = reply.json()["error"]["message"]
    claim = "sub" if "sub" in changes else "groups"
    assert f"'{claim}' claim" in message, message
    good = httpx.get(
        f"{broker_setup.broker.url}/api/v1/requests",
        headers={"Authorization": f"Bearer {id_token(broker_setup.cluster, {})}"},
    )
    assert good.status_code == 200, good.text


# ---- the gateway (with ID tokens accepted too) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayEnv]:
    """A broker and a gateway whose config also trusts the dev issuer (``oidc:``), so both token kinds reach it."""
    plain = gateway_env_module.gateway_config

    def with_oidc(directory: Path, *args: Any, **kwargs: Any) -> Path:
        path = plain(directory, *args, **kwargs)
        document = yaml.safe_load(path.read_text())
        ca_file = directory.parent / "dev-ca.crt"  # the broker's config wrote the dev CA there
        issuer = devcluster.issuer
        document["oidc"] = [{"issuer": issuer.url, "audience": issuer.audience, "caFile": str(ca_file)}]
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gateway_env_module, "gateway_config", with_oidc)
        with gateway_env(devcluster, tmp_path_factory.mktemp("gwnames"), name="gwnames") as environment:
            patch.undo()
            yield environment


@pytest.fixture(scope="module")
def ns(devcluster: DevCluster) -> Iterator[str]:
    name = make_namespace(devcluster, with_pod=False)
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def grant_token(env: GatewayEnv, ns: str) -> str:
    """alice's ops grant on ``ns``, once the gateway has heard of it from the broker."""
    token = env.token("alice", env.grant("alice", "ops", ns))
    deadline = time.monotonic() + 10
    while pods(env, ns, token).status != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    return token


def test_the_gateway_accepts_the_controls(env: GatewayEnv, ns: str, grant_token: str) -> None:
    """alice's own ID token and her grant token, re-signed unchanged: each refusal below is about the name alone."""
    assert pods(env, ns, id_token(env.cluster, {})).status == 200
    assert pods(env, ns, broker_signer(env).sign(claims_of(grant_token))).status == 200


@pytest.mark.parametrize("changes", list(BAD_IDENTITIES.values()), ids=list(BAD_IDENTITIES))
def test_the_gateway_refuses_an_id_token_with_a_bad_name(
    env: GatewayEnv, ns: str, grant_token: str, changes: dict[str, Any]
) -> None:
    claim = "sub" if "sub" in changes else "groups"
    assert_unauthenticated(pods(env, ns, id_token(env.cluster, changes)), f"'{claim}' claim")


@pytest.mark.parametrize("changes", list(BAD_IDENTITIES.values()), ids=list(BAD_IDENTITIES))
def test_the_gateway_refuses_a_broker_signed_grant_token_with_a_bad_name(
    env: GatewayEnv, ns: str, grant_token: str, changes: dict[str, Any]
) -> None:
    """Even the broker's own signature does not carry such a name into an Impersonate-* header."""
    claims = {**claims_of(grant_token), **changes}
    what = "user" if "sub" in changes else "group"
    assert_unauthenticated(
        pods(env, ns, broker_signer(env).sign(claims)), f"grant token of {claims['gid']} names the {what}"
    )
