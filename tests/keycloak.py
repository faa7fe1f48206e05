"""A real identity provider for the tests: Keycloak, and a control plane that trusts it, once per session.

The session fixture ``keycloak`` starts :class:`kubejit.devcluster.keycloak.Keycloak` (its serving certificate from
the new DevCluster's CA) and then a DevCluster (no kwok) whose kube-apiserver trusts both the dev issuer and
Keycloak's ``kubejit`` realm, Keycloak's users and groups prefixed with ``kc:`` so they never clash with the dev
issuer's. ID tokens live :data:`ID_TOKEN_SECONDS`, so a test can watch one expire and refresh it.

``keycloak_page`` is a headless Chromium page (tests/browser.py) that accepts Keycloak's serving certificate.
The helpers drive the flows the way ``kubejit login`` does, with the browser in Playwright's hands:
:func:`code_flow_login` (authorization code + PKCE S256 to a loopback receiver) and :func:`device_flow_login`
(RFC 8628, the user code typed on Keycloak's device page), :func:`refresh` and :func:`verified_claims`.
Without Java >= 21 or network access to Maven Central the fixture fails with the reason; it never skips.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.keycloak import Keycloak
from kubejit.devcluster.keycloak_realm import TokenLifetimes, dev_password
from kubejit.domain.errors import Unavailable
from kubejit.transport import trust_context
from tests.browser import chromium_page

PREFIX = "kc:"
ID_TOKEN_SECONDS = 20
SCOPES = ("openid", "profile", "email", "groups", "offline_access")


@dataclass(frozen=True)
class KeycloakRig:
    """Keycloak and the control plane that trusts it."""

    keycloak: Keycloak
    cluster: DevCluster
    prefix: str = PREFIX

    def cluster_name(self, name: str) -> str:
        """What kube-apiserver calls a Keycloak user or group: the name with the rig's prefix."""
        return f"{self.prefix}{name}"


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeycloakRig]:
    """Keycloak with the ``kubejit`` realm, and a DevCluster trusting it (users and groups prefixed ``kc:``)."""
    cluster = DevCluster(with_kwok=False)
    idp = Keycloak(cluster.ca, tmp_path_factory.mktemp("keycloak"), lifetimes=TokenLifetimes(ID_TOKEN_SECONDS))
    cluster.extra_issuers = (idp.trusted_issuer(username_prefix=PREFIX, groups_prefix=PREFIX),)
    try:
        idp.start()
    except Unavailable as error:
        pytest.fail(f"Keycloak did not start: {error}", pytrace=False)
    try:
        with cluster:
            yield KeycloakRig(idp, cluster)
    finally:
        idp.stop()


@pytest.fixture
def keycloak_page(keycloak: KeycloakRig, tmp_path: Path) -> Iterator[Page]:
    """A fresh headless Chromium page that accepts Keycloak's serving certificate (and no other private one)."""
    with chromium_page(tmp_path / "chromium-profile", (keycloak.keycloak.serving_cert_pem,)) as page:
        yield page


# ---- the flows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


class LoopbackReceiver:
    """The redirect target of a native app (RFC 8252): http://127.0.0.1:<free port>/callback, first answer kept."""

    def __init__(self, path: str = "/callback") -> None:
        self.path = path
        self._answer: dict[str, str] | None = None
        self._arrived = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float = 30.0) -> dict[str, str]:
        if not self._arrived.wait(timeout) or self._answer is None:
            raise AssertionError(f"nothing arrived at {self.redirect_uri} within {timeout:.0f}s")
        return self._answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != receiver.path:
                    self.send_error(404)
                    return
                if receiver._answer is None:
                    receiver._answer = dict(parse_qsl(url.query))
                    receiver._arrived.set()
                body = b"signed in: you may close this window"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def sign_in(page: Page, user: str, password: str | None = None) -> None:
    """Type a user's name and password into Keycloak's login form and submit it."""
    page.fill("#username", user)
    page.fill("#password", dev_password(user) if password is None else password)
    page.click("#kc-login")


def authorization_url(rig: KeycloakRig, redirect_uri: str, pkce: Pkce, state: str, nonce: str) -> str:
    discovery = rig.keycloak.discovery()
    query = {
        "response_type": "code",
        "client_id": rig.keycloak.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    return f"{discovery['authorization_endpoint']}?{urlencode(query)}"


def code_flow_login(rig: KeycloakRig, page: Page, user: str) -> dict[str, Any]:
    """Authorization code + PKCE through Keycloak's login page; returns the token endpoint's answer."""
    pkce, state, nonce = Pkce.new(), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    with LoopbackReceiver() as receiver:
        page.goto(authorization_url(rig, receiver.redirect_uri, pkce, state, nonce))
        sign_in(page, user)
        answer = receiver.wait()
    if answer.get("state") != state or "code" not in answer:
        raise AssertionError(f"the redirect carried {answer}, expected a code and state {state}")
    tokens = token_request(
        rig,
        grant_type="authorization_code",
        code=answer["code"],
        redirect_uri=receiver.redirect_uri,
        code_verifier=pkce.verifier,
    ).json()
    if verified_claims(rig, tokens["id_token"]).get("nonce") != nonce:
        raise AssertionError("the ID token does not carry the nonce of the request")
    return dict(tokens)


def device_flow_login(rig: KeycloakRig, page: Page, user: str) -> dict[str, Any]:
    """RFC 8628: start a device authorization, type the user code on Keycloak's device page, sign in, poll."""
    discovery, pkce = rig.keycloak.discovery(), Pkce.new()
    # Keycloak applies the client's "PKCE S256 required" to the device grant too (else: "Missing parameter:
    # code_challenge_method"), so the device authorization carries a challenge and the polls the verifier.
    form = {"client_id": rig.keycloak.client_id, "scope": " ".join(SCOPES)}
    form |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    with rig.keycloak.http_client() as client:
        started = client.post(discovery["device_authorization_endpoint"], data=form)
    if started.status_code != 200:
        raise AssertionError(f"device authorization refused ({started.status_code}): {started.text}")
    grant = started.json()
    page.goto(grant["verification_uri"])
    page.fill("input[name=device_user_code]", grant["user_code"])
    page.click("#kc-login")
    sign_in(page, user)
    deadline = time.monotonic() + 30
    interval = float(grant.get("interval", 1))
    while time.monotonic() < deadline:
        consent = page.locator("button[name=accept]")
        if consent.count():  # Keycloak asks the person to confirm the device's access
            consent.click()
        response = token_request(
            rig,
            check=False,
            grant_type="urn:ietf:params:oauth:grant-type:device_code",
            device_code=grant["device_code"],
            code_verifier=pkce.verifier,
        )
        if response.status_code == 200:
            return dict(response.json())
        if response.json().get("error") not in ("authorization_pending", "slow_down"):
            raise AssertionError(f"device grant refused: {response.text}")
        time.sleep(interval)
    raise AssertionError("the device grant was not approved within 30 s")


def token_request(rig: KeycloakRig, *, check: bool = True, **form: str) -> httpx.Response:
    with rig.keycloak.http_client() as client:
        response = client.post(
            rig.keycloak.discovery()["token_endpoint"], data={"client_id": rig.keycloak.client_id, **form}
        )
    if check and response.status_code != 200:
        raise AssertionError(f"token endpoint answered {response.status_code}: {response.text}")
    return response


def refresh(rig: KeycloakRig, refresh_token: str, *, check: bool = True) -> httpx.Response:
    return token_request(rig, check=check, grant_type="refresh_token", refresh_token=refresh_token)


def verified_claims(rig: KeycloakRig, id_token: str) -> dict[str, Any]:
    """The claims of an ID token whose signature checks out against the realm's published keys."""
    with rig.keycloak.http_client() as client:
        jwks = client.get(rig.keycloak.discovery()["jwks_uri"]).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks))
    return dict(token.claims)


def self_subject_review(rig: KeycloakRig, token: str, *, timeout: float = 20.0) -> dict[str, Any]:
    """Who kube-apiserver says the bearer of ``token`` is; retried while it still loads Keycloak's keys (401)."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    context = trust_context(cadata=rig.cluster.ca.cert_pem)
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=rig.cluster.server_url, verify=context, headers=headers, timeout=5.0) as client:
        while True:
            response = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json=review)
            if response.status_code == 201 or response.status_code != 401 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    if response.status_code != 201:
        raise AssertionError(f"kube-apiserver answered {response.status_code}: {response.text}")
    user_info: dict[str, Any] = response.json()["status"]["userInfo"]
    return user_info


def keycloak_log_hint(rig: KeycloakRig) -> str:
    return f"last lines of {rig.keycloak.log_path}:\n{rig.keycloak.tail()}"
