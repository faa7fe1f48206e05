"""`kubejit token` and `kubejit kubeconfig` end to end: the real CLI as kubectl runs it, against the real broker.

The grant token the plugin prints must verify with the broker's published keys and never outlive the grant; a
second call within its validity must not reach the broker; only the grant's requester gets a token, and only
while the grant is active. The gateway URL is a placeholder (no gateway process runs here), so real kubectl is
shown to run the plugin from the written kubeconfig and then to fail only at connecting to that placeholder.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from kubejit.adapters.grant_tokens import GrantTokenVerifier
from kubejit.devcluster.process import free_port
from tests.conftest import eventually
from tests.e2e.conftest import KUBEJIT, BrokerSetup, Jit

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def plugin_env(setup: BrokerSetup, user: str, cache: Path, *, server: str | None = None) -> dict[str, str]:
    """What kubectl would pass on: the person's environment (one ID token, minted once) and the broker's URL."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBEJIT_CA", "KUBEJIT_GRANT", "KUBERNETES_EXEC_INFO")}
    env.update(
        KUBEJIT_SERVER=server or setup.broker.url,
        KUBEJIT_TOKEN=setup.cluster.mint_token(user),
        XDG_CACHE_HOME=str(cache),
    )
    return env


def token(env: dict[str, str], grant: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBEJIT, "token", "--grant", grant],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def active_grant(jit: Jit, namespace: str, duration: str = "10m") -> dict[str, object]:
    created = jit.request("alice", "debug", namespace, duration=duration)
    jit.json("bob", "approve", str(created["id"]), "--comment", "ok")
    assert eventually(lambda: jit.json("alice", "get", str(created["id"]))["state"] == "active", timeout=15)
    grant: dict[str, object] = jit.json("alice", "get", str(created["id"]))
    return grant


def test_token_verifies_with_the_brokers_keys_and_is_then_served_from_the_cache(
    jit: Jit, broker_setup: BrokerSetup, namespace: str, tmp_path: Path
) -> None:
    grant = active_grant(jit, namespace)
    grant_id = str(grant["id"])
    env = plugin_env(broker_setup, "alice", tmp_path / "cache")

    first = token(env, grant_id)
    assert (first.returncode, first.stderr) == (0, "")
    credential = json.loads(first.stdout)
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1"
    assert credential["kind"] == "ExecCredential"
    grant_token = credential["status"]["token"]
    stamp = credential["status"]["expirationTimestamp"]
    assert RFC3339_UTC.match(stamp)

    keys = httpx.get(f"{broker_setup.broker.url}/.well-known/kubejit-gateway-keys", timeout=10).json()
    claims = GrantTokenVerifier(keys).verify(grant_token, datetime.now(UTC))
    assert (claims.user, claims.grant_id, claims.profile, claims.namespaces) == (
        "alice",
        grant_id,
        "debug",
        (namespace,),
    )
    assert claims.expires_at <= datetime.fromisoformat(str(grant["endsAt"]))
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == claims.expires_at

    cached = tmp_path / "cache" / "kubejit" / "tokens" / f"{grant_id}.json"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700

    # Within the validity, nothing is asked of the broker: a dead KUBEJIT_SERVER does not matter.
    second = token({**env, "KUBEJIT_SERVER": f"http://127.0.0.1:{free_port()}"}, grant_id)
    assert (second.returncode, second.stderr) == (0, "")
    assert second.stdout == first.stdout


def test_only_the_requester_gets_a_token_for_a_grant(
    jit: Jit, broker_setup: BrokerSetup, namespace: str, tmp_path: Path
) -> None:
    grant_id = str(active_grant(jit, namespace)["id"])
    cache = tmp_path / "cache"  # one OS account for both people: the cache must not hand alice's token to bob
    assert token(plugin_env(broker_setup, "alice", cache), grant_id).returncode == 0
    bob = plugin_env(broker_setup, "bob", cache)
    refused = token(bob, grant_id)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"kubejit token: there is no grant {grant_id} of yours\n"
    assert bob["KUBEJIT_TOKEN"] not in refused.stderr


def test_a_pending_grant_gives_no_token(jit: Jit, broker_setup: BrokerSetup, namespace: str, tmp_path: Path) -> None:
    grant_id = str(jit.request("alice", "debug", namespace)["id"])
    result = token(plugin_env(broker_setup, "alice", tmp_path / "cache"), grant_id)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"kubejit token: grant {grant_id} is pending: it needs approval first (see kubejit get {grant_id})\n"
    )


def test_an_expired_grant_gives_no_token(jit: Jit, broker_setup: BrokerSetup, namespace: str, tmp_path: Path) -> None:
    grant_id = str(active_grant(jit, namespace, duration="4s")["id"])
    env = plugin_env(broker_setup, "alice", tmp_path / "cache")
    assert token(env, grant_id).returncode == 0  # while active; the token ends with the grant
    assert eventually(lambda: jit.json("alice", "get", grant_id)["state"] == "expired", timeout=20)
    result = token(env, grant_id)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"kubejit token: grant {grant_id} is expired: request access again with kubejit request\n"


def test_kubeconfig_reaches_the_gateway_with_kubejit_token(
    jit: Jit, broker_setup: BrokerSetup, namespace: str, tmp_path: Path
) -> None:
    grant_id = str(active_grant(jit, namespace)["id"])
    target = tmp_path / "jit.kubeconfig"
    written = jit("alice", "kubeconfig", "--grant", grant_id, "-o", str(target))
    assert str(target) in written.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    document = yaml.safe_load(target.read_text())
    name = f"jit-{grant_id}"
    ca_data = base64.b64encode(broker_setup.cluster.ca.cert_pem).decode()
    assert document["clusters"] == [
        {"name": name, "cluster": {"server": "https://127.0.0.1:1", "certificate-authority-data": ca_data}}
    ]
    assert document["contexts"] == [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}]
    assert document["current-context"] == name
    exec_ = document["users"][0]["user"]["exec"]
    assert exec_["command"] == KUBEJIT
    assert exec_["args"] == ["token", "--grant", grant_id]
    assert exec_["env"] == [{"name": "KUBEJIT_SERVER", "value": broker_setup.broker.url}]
    assert (exec_["apiVersion"], exec_["interactiveMode"], exec_["provideClusterInfo"]) == (
        "client.authentication.k8s.io/v1",
        "Never",
        False,
    )
    assert "KUBEJIT_TOKEN" not in target.read_text()

    # Real kubectl runs the plugin from this kubeconfig (KUBEJIT_TOKEN from its own environment), then fails
    # only at the placeholder gateway address.
    env = plugin_env(broker_setup, "alice", tmp_path / "cache")
    env.pop("KUBEJIT_SERVER")
    result = subprocess.run(
        [str(broker_setup.cluster.bins.kubectl), "--kubeconfig", str(target), "get", "pods", "--request-timeout=5s"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode != 0
    assert "getting credentials" not in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert (tmp_path / "cache" / "kubejit" / "tokens" / f"{grant_id}.json").exists()
