"""`kubejit login` end to end against a real identity provider: Keycloak's own login page, driven by Chromium.

The broker trusts the test rig's Keycloak (tests/keycloak.py) as its one issuer, with the prefix ``kc:`` that
kube-apiserver uses too, so the person the broker sees is the person the cluster sees. The person's side is the
real ``kubejit`` program with nothing in its environment but its own cache directory (no KUBEJIT_TOKEN, no
KUBEJIT_SERVER); the browser is headless Chromium typing the password into Keycloak's form. The broker's web
console signs in at the same Keycloak, and signing out of it ends Keycloak's session too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.gateway import broker_link, gateway_config, prepare_gateway, start_gateway
from tests.e2e.conftest import E2E_POLICY, install
from tests.e2e.people import Machine, finished, kubectl_whoami_with_id_token, line_starting
from tests.keycloak import PREFIX, KeycloakRig, refresh, sign_in

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def _prefixed_policy() -> str:
    """The e2e policy with Keycloak's group names (``kc:payments-devs``), as the broker will see them."""

    def prefixed(match: re.Match[str]) -> str:
        names = [name.strip() for name in match.group(1).split(",")]
        return "groups: [" + ", ".join(f'"{PREFIX}{name}"' for name in names) + "]"

    return re.sub(r"groups: \[([^\]]*)\]", prefixed, E2E_POLICY)


@pytest.fixture(scope="module")
def keycloak_broker(keycloak: KeycloakRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker whose only issuer is Keycloak (prefixes ``kc:``), offered to ``kubejit login``, and its gateway."""
    cluster, idp = keycloak.cluster, keycloak.keycloak
    directory = tmp_path_factory.mktemp("keycloak-broker")
    policy_file, kubeconfig = install(cluster, directory, namespace="kubejit-e2e-kc", role_name="kubejit:broker:kc")
    policy_file.write_text(_prefixed_policy())
    shared = prepare_gateway(cluster, directory / "gateway")
    path = broker_config(
        cluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace="kubejit-e2e-kc",
        gateway=broker_link(shared),
    )
    document = yaml.safe_load(path.read_text())
    document["oidc"] = [
        {
            "name": "keycloak",
            "issuer": idp.issuer,
            "audience": idp.client_id,
            "caFile": str(directory / "dev-ca.crt"),
            "usernameClaim": "preferred_username",
            "usernamePrefix": PREFIX,
            "groupsPrefix": PREFIX,
            "login": {"clientId": idp.client_id},
        }
    ]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    broker = start_broker(path, log_name="keycloak-broker")
    gateway = None
    try:
        gateway = start_gateway(
            gateway_config(directory / "gateway", shared, broker_url=broker.url, policy_file=policy_file),
            shared,
            log_name="keycloak-gateway",
        )
        yield broker
    finally:
        if gateway is not None:
            gateway.stop()
        broker.stop()


@dataclass
class Person(Machine):
    """One person's machine (tests/e2e/people.py), and the IdP they sign in at."""

    rig: KeycloakRig

    def login(self, page: Page, user: str) -> subprocess.CompletedProcess[str]:
        """``kubejit login --no-browser``; Chromium opens the printed URL and signs in on Keycloak's page."""
        process = self.start("login", "--server", self.server, "--no-browser")
        url = line_starting(process, self.rig.keycloak.discovery()["authorization_endpoint"] + "?")
        page.goto(url)
        sign_in(page, user)
        return finished(process)


@pytest.fixture
def person(keycloak: KeycloakRig, keycloak_broker: BrokerProcess, tmp_path: Path) -> Person:
    return Person(keycloak_broker.url, tmp_path / "home", keycloak)


def test_login_through_keycloaks_page_and_the_broker_sees_the_prefixed_person(
    person: Person, keycloak_page: Page
) -> None:
    result = person.login(keycloak_page, "alice")
    assert result.returncode == 0, result.stderr
    assert "as kc:alice\ngroups  kc:payments-devs" in result.stdout
    session = person.session()
    assert (session["server"], session["issuer"], session["user"]) == (
        person.server,
        person.rig.keycloak.issuer,
        "kc:alice",
    )
    assert session["refreshToken"]
    assert person.run("whoami").stdout.startswith("user    kc:alice\ngroups  kc:payments-devs")


def test_an_expired_id_token_is_renewed_at_keycloak(person: Person, keycloak_page: Page) -> None:
    assert person.login(keycloak_page, "bob").returncode == 0
    before = person.session()
    time.sleep(max(0.0, before["idTokenExpiresAt"] - time.time() + 1))  # Keycloak's 20 s ID token has expired
    assert person.run("whoami").stdout.startswith("user    kc:bob")
    after = person.session()
    assert after["idToken"] != before["idToken"]
    assert after["refreshToken"] != before["refreshToken"]  # the realm rotates refresh tokens


def test_kubectl_to_kube_apiserver_with_the_sessions_id_token_and_no_token_in_the_environment(
    person: Person, keycloak_page: Page
) -> None:
    assert person.login(keycloak_page, "carol").returncode == 0
    cluster = person.rig.cluster
    user = kubectl_whoami_with_id_token(person, cluster.bins.kubectl, cluster.server_url, cluster.ca.cert_pem)
    assert user["username"] == "kc:carol"
    assert {"kc:payments-leads", "kc:sre-oncall"} <= set(user["groups"])


def test_logout_revokes_the_refresh_token_at_keycloak(person: Person, keycloak_page: Page) -> None:
    assert person.login(keycloak_page, "dave").returncode == 0
    refresh_token = person.session()["refreshToken"]
    assert f"signed out of {person.server}" in person.run("logout").stdout
    assert not list(person.sessions.glob("*.json"))
    answer = refresh(person.rig, refresh_token, check=False)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_login_with_the_device_flow_on_keycloaks_device_page(person: Person, keycloak_page: Page) -> None:
    process = person.start("login", "--server", person.server, "--device")
    assert process.stderr is not None
    shown = ""
    for line in process.stderr:
        shown += line
        if "Waiting" in line or "error" in line.lower():
            break
    uri = re.search(r"open (\S+) on any device", shown)
    code = re.search(r"enter the code\n\n  (\S+)\n", shown)
    if uri is None or code is None:
        result = finished(process)
        pytest.fail(f"kubejit login --device showed no URL and code:\n{shown}{result.stderr}")
    keycloak_page.goto(uri.group(1))
    keycloak_page.fill("input[name=device_user_code]", code.group(1))
    keycloak_page.click("#kc-login")
    sign_in(keycloak_page, "erin")
    consent = keycloak_page.locator("button[name=accept]")
    consent.wait_for(timeout=15_000)
    consent.click()
    result = finished(process)
    assert result.returncode == 0, shown + result.stderr
    assert "as kc:erin" in result.stdout


def test_kubectl_through_the_gateway_after_login_with_no_token_in_the_environment(
    keycloak: KeycloakRig, keycloak_broker: BrokerProcess, keycloak_page: Page, tmp_path: Path
) -> None:
    """alice requests, bob approves (each signed in on Keycloak's page, on their own machine), and alice's kubectl
    reaches the namespace through the gateway with a kubeconfig from `kubejit kubeconfig`: no token anywhere in
    her environment or in the file, only her login session."""
    cluster = keycloak.cluster
    namespace = f"t-kc-{os.urandom(4).hex()}"
    cluster.kubectl("create", "namespace", namespace, check=True)
    alice = Person(keycloak_broker.url, tmp_path / "alice", keycloak)
    bob = Person(keycloak_broker.url, tmp_path / "bob", keycloak)
    assert alice.login(keycloak_page, "alice").returncode == 0
    keycloak_page.context.clear_cookies()  # bob signs in on his own browser
    assert bob.login(keycloak_page, "bob").returncode == 0
    created = json.loads(
        alice.run(
            "request", "debug", "-n", namespace, "--for", "10m", "--reason", "INC-7 keycloak", "-o", "json"
        ).stdout
    )
    bob.run("approve", created["id"])
    kubeconfig = alice.home / "grant.kubeconfig"
    alice.run("kubeconfig", "--grant", created["id"], "-o", str(kubeconfig))
    assert "token" not in yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    kubectl = [str(cluster.bins.kubectl), "--kubeconfig", str(kubeconfig)]
    deadline = time.monotonic() + 30
    while True:
        listed = subprocess.run(
            [*kubectl, "get", "configmaps", "-n", namespace], capture_output=True, text=True, env=alice.env
        )
        if listed.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # the grant becomes active within a keeper pass
    assert listed.returncode == 0, listed.stderr
    refused = subprocess.run(
        [*kubectl, "get", "secrets", "-n", "kube-system"], capture_output=True, text=True, env=alice.env
    )
    assert refused.returncode != 0


def test_signing_out_of_the_console_ends_the_keycloak_session_too(
    keycloak: KeycloakRig, keycloak_broker: BrokerProcess, keycloak_page: Page
) -> None:
    """Keycloak keeps its own session: while it lives, the console's sign-in needs no password. Signing out of the
    console ends it (RP-initiated logout, the ID token sent in a form body, never in a URL), so the next sign-in
    asks for the password again."""
    page, console = keycloak_page, f"{keycloak_broker.url}/console"
    login_page = keycloak.keycloak.discovery()["authorization_endpoint"]
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))

    page.goto(f"{console}/requests")
    assert page.url.startswith(login_page)
    sign_in(page, "alice")
    page.wait_for_url(f"{console}/requests")
    expect(page.locator(".who")).to_contain_text("kc:alice")
    page.context.clear_cookies(name="kubejit-console")  # the console forgets alice; Keycloak does not
    page.goto(f"{console}/requests")
    page.wait_for_url(f"{console}/requests")  # back without a password: Keycloak's session signed her in

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{console}/signed-out")
    expect(page.get_by_role("status")).to_have_text("You are signed out of the console and of your identity provider.")
    assert "kubejit-console" not in {cookie["name"] for cookie in page.context.cookies()}
    page.goto(f"{console}/requests")
    assert page.url.startswith(login_page)
    expect(page.locator("#password")).to_be_visible()  # Keycloak asks for the password again
    assert not [url for url in visited if "id_token" in url], visited
