"""`kubejit login` end to end: the real CLI signs in at the dev issuer's real flows, against a real broker.

The dev issuer (the one kube-apiserver trusts) serves the authorization code flow with PKCE behind a login page
of dev users, the device flow, rotating refresh tokens and revocation. The person's side is the real
``kubejit`` program with nothing in its environment but its own cache directory: no KUBEJIT_TOKEN, no
KUBEJIT_SERVER. The login page is followed with httpx (the page, the user's button, the redirect back to the
loopback receiver of ``kubejit login``); a browser test against Keycloak lives elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.cluster import DevCluster
from kubejit.login_sessions import id_token_claims
from kubejit.transport import trust_context
from tests.conftest import eventually
from tests.e2e.conftest import install
from tests.e2e.people import Machine, finished, kubectl_whoami_with_id_token, line_starting

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def login_broker(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker that offers the dev issuer for kubejit login (``login: {clientId: kubejit}``)."""
    directory = tmp_path_factory.mktemp("login-broker")
    policy_file, kubeconfig = install(
        devcluster, directory, namespace="kubejit-e2e-login", role_name="kubejit:broker:e2e-login"
    )
    gateway = {  # a placeholder (no gateway process runs here), so that grant tokens are issued
        "url": "https://127.0.0.1:1",
        "caFile": str(directory / "dev-ca.crt"),
        "signingKeyFile": str(directory / "gateway-signing.key"),
        "clientTokenSha256": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
    }
    path = broker_config(
        devcluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace="kubejit-e2e-login",
        gateway=gateway,
    )
    document = yaml.safe_load(path.read_text())
    for issuer in document["oidc"]:
        issuer.setdefault("login", {"clientId": "kubejit"})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    broker = start_broker(path, log_name="login-broker")
    yield broker
    broker.stop()


@dataclass
class Person(Machine):
    """One person's machine (tests/e2e/people.py), and the IdP they sign in at."""

    cluster: DevCluster

    def web(self) -> httpx.Client:
        """What the person's browser would be: it trusts the dev CA and follows nothing by itself."""
        return httpx.Client(verify=trust_context(cadata=self.cluster.ca.cert_pem), timeout=30)

    def login(self, user: str = "alice", *, deny: bool = False) -> subprocess.CompletedProcess[str]:
        """``kubejit login --no-browser``, the printed URL followed through the login page as ``user``."""
        process = self.start("login", "--server", self.server, "--no-browser")
        url = line_starting(process, self.cluster.issuer.pages_url + "/authorize?")  # plain HTTP: no CA warning
        with self.web() as web:
            page = web.get(url)
            assert page.status_code == 200, page.text
            choice = {"deny": "deny"} if deny else {"user": user}
            answer = web.post(
                f"{self.cluster.issuer.pages_url}/authorize", data={"transaction": _transaction(page), **choice}
            )
            assert answer.status_code == 303, answer.text
            back = httpx.get(answer.headers["location"], timeout=30)  # to kubejit login's loopback receiver
            assert back.status_code == 200
        return finished(process)


def _transaction(page: httpx.Response) -> str:
    found = re.search(r'name=transaction value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.fixture
def person(devcluster: DevCluster, login_broker: BrokerProcess, tmp_path: Path) -> Person:
    return Person(login_broker.url, tmp_path / "home", devcluster)


def as_user(person: Person, user: str) -> dict[str, str]:
    return {**person.env, "KUBEJIT_SERVER": person.server, "KUBEJIT_TOKEN": person.cluster.mint_token(user)}


# ---- signing in ---------------------------------------------------------------------------------------------------


def test_login_through_the_login_page_then_every_command_works_without_a_token(person: Person, namespace: str) -> None:
    result = person.login("alice")
    assert result.returncode == 0, result.stderr
    assert f"signed in to {person.server} through " in result.stdout
    assert "as alice\ngroups  payments-devs" in result.stdout
    assert "you may request debug, quorum, oncall" in result.stdout  # what the policy lets alice request
    assert "next: kubejit request debug -n NAMESPACE" in result.stdout
    session = person.session()
    assert (session["user"], session["server"], session["issuer"]) == (
        "alice",
        person.server,
        person.cluster.issuer.url,
    )
    assert session["refreshToken"]
    assert id_token_claims(session["idToken"])["sub"] == "alice"
    assert stat.S_IMODE(person.sessions.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in person.sessions.iterdir())
    assert (person.sessions / "current-server").read_text().strip() == person.server

    assert person.run("whoami").stdout.startswith("user    alice\ngroups  payments-devs")
    created = json.loads(
        person.run("request", "debug", "-n", namespace, "--for", "10m", "--reason", "INC-7 login", "-o", "json").stdout
    )
    assert created["requester"] == "alice"
    person.run("approve", created["id"], "--comment", "ok", env=as_user(person, "bob"))
    assert eventually(lambda: json.loads(person.run("get", created["id"], "-o", "json").stdout)["state"] == "active")
    credential = json.loads(person.run("token", "--grant", created["id"]).stdout)
    assert credential["kind"] == "ExecCredential"
    assert credential["status"]["token"]
    kubeconfig = person.run("kubeconfig", "--grant", created["id"], "-o", str(person.home / "jit.kubeconfig"))
    assert "keep KUBEJIT_TOKEN set" not in kubeconfig.stdout
    assert "kubejit login" in kubeconfig.stdout


def test_login_with_the_device_flow(person: Person) -> None:
    with person.cluster.issuer.using_lifetimes(device_interval=1):
        process = person.start("login", "--server", person.server, "--device")
        assert process.stderr is not None
        shown = ""
        for line in process.stderr:
            shown += line
            if "Waiting" in line:
                break
        uri = re.search(r"open (\S+) on any device", shown)
        code = re.search(r"enter the code\n\n  (\S+)\n", shown)
        assert uri, shown
        assert code, shown
        with person.web() as web:
            page = web.get(uri.group(1))
            decision = {"transaction": _transaction(page), "user_code": code.group(1), "user": "carol"}
            assert web.post(f"{person.cluster.issuer.url}/device", data=decision).status_code == 200
        result = finished(process)
    assert result.returncode == 0, shown + result.stderr
    assert "as carol" in result.stdout
    assert person.run("whoami").stdout.startswith("user    carol")


def test_a_denied_sign_in_stores_nothing(person: Person) -> None:
    result = person.login(deny=True)
    assert result.returncode == 1
    assert "was denied (access_denied" in result.stderr
    assert not list(person.sessions.glob("*.json")) if person.sessions.exists() else True


def test_kubectl_straight_to_kube_apiserver_with_the_sessions_id_token(person: Person) -> None:
    assert person.login("alice").returncode == 0
    cluster = person.cluster
    user = kubectl_whoami_with_id_token(person, cluster.bins.kubectl, cluster.server_url, cluster.ca.cert_pem)
    assert user["username"] == "alice"


# ---- renewal ------------------------------------------------------------------------------------------------------


def test_an_expired_id_token_is_renewed_with_the_refresh_token(person: Person) -> None:
    with person.cluster.issuer.using_lifetimes(id_token_ttl=3):
        assert person.login("alice").returncode == 0
    before = person.session()
    time.sleep(max(0.0, before["idTokenExpiresAt"] - time.time() + 1))  # the ID token has expired
    assert person.run("whoami").stdout.startswith("user    alice")
    after = person.session()
    assert after["idToken"] != before["idToken"]
    assert after["refreshToken"] != before["refreshToken"]  # the dev issuer rotates refresh tokens
    assert after["idTokenExpiresAt"] > time.time() + 60


def test_concurrent_kubejit_token_calls_renew_once(person: Person) -> None:
    with person.cluster.issuer.using_lifetimes(id_token_ttl=30):  # less than the 60 s kubejit wants: due at once
        assert person.login("alice").returncode == 0
    before = person.session()
    processes = [person.start("token", "--id-token") for _ in range(5)]
    results = [finished(p) for p in processes]
    assert [r.returncode for r in results] == [0] * 5, [r.stderr for r in results]  # a second use of a rotated token
    tokens = {json.loads(r.stdout)["status"]["token"] for r in results}  # would have failed (invalid_grant)
    assert len(tokens) == 1
    assert tokens != {before["idToken"]}
    assert person.session()["idToken"] in tokens


def test_an_expired_refresh_token_says_run_kubejit_login(person: Person) -> None:
    with person.cluster.issuer.using_lifetimes(id_token_ttl=2, refresh_token_ttl=2):
        assert person.login("alice").returncode == 0
    time.sleep(3)
    result = person.run("whoami", check=False)
    assert result.returncode == 1
    assert "your session with" in result.stderr
    assert "ended (the IdP refused to renew it: invalid_grant" in result.stderr
    assert f"run kubejit login --server {person.server}" in result.stderr


# ---- signing out --------------------------------------------------------------------------------------------------


def test_logout_removes_the_session_revokes_the_refresh_token_and_drops_cached_tokens(person: Person) -> None:
    assert person.login("alice").returncode == 0
    refresh_token = person.session()["refreshToken"]
    result = person.run("logout")
    assert f"signed out of {person.server}" in result.stdout
    assert list(person.sessions.iterdir()) == []  # session, lock and current-server gone
    refused = person.run("whoami", check=False, env={**person.env, "KUBEJIT_SERVER": person.server})
    assert refused.returncode == 2
    assert "say who you are: --token TOKEN or KUBEJIT_TOKEN" in refused.stderr
    assert f"sign in once with kubejit login --server {person.server}" in refused.stderr
    no_server = person.run("whoami", check=False)
    assert no_server.returncode == 2
    assert "kubejit login --server URL" in no_server.stderr
    with person.web() as web:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "kubejit"}
        answer = web.post(f"{person.cluster.issuer.url}/token", data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "you were not signed in" in person.run("logout", "--server", person.server).stdout
