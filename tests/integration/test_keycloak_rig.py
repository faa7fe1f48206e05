"""The test rig's real identity provider: Keycloak signs people in through its own login page (headless Chromium),
issues ID tokens with the claims kubejit relies on, and kube-apiserver accepts them under the ``kc:`` prefix.

These tests prove the rig (tests/keycloak.py) that the ``kubejit login`` end-to-end tests build on.
"""

from __future__ import annotations

import secrets
import time

import httpx
import pytest
from playwright.sync_api import Page

from kubejit.devcluster.keycloak_realm import email_of
from kubejit.devcluster.users import dev_user
from tests.keycloak import (
    ID_TOKEN_SECONDS,
    KeycloakRig,
    LoopbackReceiver,
    Pkce,
    authorization_url,
    code_flow_login,
    device_flow_login,
    refresh,
    self_subject_review,
    sign_in,
    token_request,
    verified_claims,
)

pytestmark = pytest.mark.timeout(600)


def assert_lifespan(claims: dict[str, object]) -> None:
    """The ID token lives the realm's lifespan. ``exp`` and ``iat`` are whole seconds Keycloak takes at different
    moments of one token exchange, so across a second boundary the difference can be a second off (seen in CI: 19)."""
    lifespan = int(str(claims["exp"])) - int(str(claims["iat"]))
    assert abs(lifespan - ID_TOKEN_SECONDS) <= 1, lifespan


def test_keycloak_serves_the_realm_over_https_only(keycloak: KeycloakRig) -> None:
    idp = keycloak.keycloak
    discovery = idp.discovery()
    assert discovery["issuer"] == f"https://127.0.0.1:{idp.port}/realms/kubejit"
    assert "S256" in discovery["code_challenge_methods_supported"]
    assert discovery["device_authorization_endpoint"].startswith(idp.issuer)
    assert {"openid", "groups", "offline_access"} <= set(discovery["scopes_supported"])
    with pytest.raises(httpx.HTTPError):  # no plain-HTTP listener on the port
        httpx.get(f"http://127.0.0.1:{idp.port}/realms/kubejit/.well-known/openid-configuration", timeout=5)
    with pytest.raises(httpx.ConnectError):  # and Keycloak's certificate is trusted only through the dev CA
        httpx.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=5)


def test_code_flow_through_the_login_page_gives_an_id_token_kube_apiserver_accepts(
    keycloak: KeycloakRig, keycloak_page: Page
) -> None:
    tokens = code_flow_login(keycloak, keycloak_page, "alice")
    claims = verified_claims(keycloak, tokens["id_token"])
    assert claims["iss"] == keycloak.keycloak.issuer
    assert claims["aud"] == "kubejit" or claims["aud"] == ["kubejit"]
    assert claims["preferred_username"] == "alice"
    assert claims["groups"] == list(dev_user("alice").groups)
    assert claims["email"] == email_of(dev_user("alice"))
    assert claims["email_verified"] is True
    assert_lifespan(claims)
    assert tokens["refresh_token"]

    user = self_subject_review(keycloak, tokens["id_token"])
    assert user["username"] == "kc:alice"
    assert "kc:payments-devs" in user["groups"]


def test_groups_are_names_not_paths_and_each_user_gets_their_own(keycloak: KeycloakRig, keycloak_page: Page) -> None:
    tokens = code_flow_login(keycloak, keycloak_page, "carol")
    claims = verified_claims(keycloak, tokens["id_token"])
    assert sorted(claims["groups"]) == sorted(dev_user("carol").groups)
    user = self_subject_review(keycloak, tokens["id_token"])
    assert user["username"] == "kc:carol"
    assert {"kc:payments-leads", "kc:sre-oncall"} <= set(user["groups"])


def test_wrong_password_is_refused_on_the_login_page(keycloak: KeycloakRig, keycloak_page: Page) -> None:
    pkce = Pkce.new()
    with LoopbackReceiver() as receiver:
        keycloak_page.goto(authorization_url(keycloak, receiver.redirect_uri, pkce, "s", "n"))
        sign_in(keycloak_page, "alice", "not-her-password")
        assert "Invalid username or password" in keycloak_page.content()
        with pytest.raises(AssertionError, match="nothing arrived"):
            receiver.wait(timeout=1)


def test_the_client_requires_pkce_and_loopback_redirects(keycloak: KeycloakRig) -> None:
    """Keycloak registers http://127.0.0.1/* (any port, as RFC 8252 wants); another host, or no PKCE, is refused."""
    discovery = keycloak.keycloak.discovery()
    base = {"response_type": "code", "client_id": "kubejit", "scope": "openid", "state": "s"}
    pkce = {"code_challenge": Pkce.new().challenge, "code_challenge_method": "S256"}
    cases = {
        "http://127.0.0.1:49152/callback": (pkce, 200),
        "http://localhost:61000/cb": (pkce, 200),
        "http://192.0.2.1:49152/callback": (pkce, 400),
        "https://127.0.0.1:49152/callback": (pkce, 400),
    }
    with keycloak.keycloak.http_client() as client:
        for redirect_uri, (extra, expected) in cases.items():
            response = client.get(
                discovery["authorization_endpoint"], params={**base, **extra, "redirect_uri": redirect_uri}
            )
            assert response.status_code == expected, redirect_uri
        no_pkce = client.get(
            discovery["authorization_endpoint"], params={**base, "redirect_uri": "http://127.0.0.1:49152/callback"}
        )
    # Without a code challenge Keycloak sends the browser back to the client with an error, not to a login form.
    assert no_pkce.status_code == 302
    assert "error=invalid_request" in no_pkce.headers["location"]
    assert "code_challenge" in no_pkce.headers["location"]


def test_password_grant_is_off(keycloak: KeycloakRig) -> None:
    response = token_request(
        keycloak, check=False, grant_type="password", username="alice", password="x", scope="openid"
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "unauthorized_client"


def test_device_authorization_grant(keycloak: KeycloakRig, keycloak_page: Page) -> None:
    tokens = device_flow_login(keycloak, keycloak_page, "bob")
    claims = verified_claims(keycloak, tokens["id_token"])
    assert claims["preferred_username"] == "bob"
    assert claims["groups"] == ["payments-leads"]
    assert self_subject_review(keycloak, tokens["id_token"])["username"] == "kc:bob"


def test_refresh_gives_a_new_id_token_and_retires_the_old_refresh_token(
    keycloak: KeycloakRig, keycloak_page: Page
) -> None:
    tokens = code_flow_login(keycloak, keycloak_page, "dave")
    first = verified_claims(keycloak, tokens["id_token"])
    time.sleep(1.1)  # iat has a one-second resolution
    renewed = refresh(keycloak, tokens["refresh_token"]).json()
    claims = verified_claims(keycloak, renewed["id_token"])
    assert claims["preferred_username"] == "dave"
    assert claims["iat"] > first["iat"]
    assert_lifespan(claims)
    assert renewed["refresh_token"] != tokens["refresh_token"]
    # The realm rotates refresh tokens: the one just used is spent.
    reused = refresh(keycloak, tokens["refresh_token"], check=False)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert self_subject_review(keycloak, renewed["id_token"])["username"] == "kc:dave"


def test_an_expired_id_token_is_refused_by_kube_apiserver_and_a_refreshed_one_is_not(
    keycloak: KeycloakRig, keycloak_page: Page
) -> None:
    tokens = code_flow_login(keycloak, keycloak_page, "erin")
    claims = verified_claims(keycloak, tokens["id_token"])
    assert self_subject_review(keycloak, tokens["id_token"])["username"] == "kc:erin"
    time.sleep(max(0.0, claims["exp"] - time.time()) + 2)
    with pytest.raises(AssertionError, match="401"):
        self_subject_review(keycloak, tokens["id_token"], timeout=0)
    renewed = refresh(keycloak, tokens["refresh_token"]).json()
    assert self_subject_review(keycloak, renewed["id_token"])["username"] == "kc:erin"


def test_a_dev_issuer_token_is_still_accepted_without_prefix(keycloak: KeycloakRig) -> None:
    """The extra issuer sits beside the dev issuer: both kinds of names exist, and never collide."""
    user = self_subject_review(keycloak, keycloak.cluster.mint_token("alice", ttl_seconds=60))
    assert user["username"] == "alice"
    assert "payments-devs" in user["groups"]


def test_state_is_echoed_so_a_client_can_detect_a_forged_redirect(keycloak: KeycloakRig, keycloak_page: Page) -> None:
    state = secrets.token_urlsafe(16)
    with LoopbackReceiver() as receiver:
        keycloak_page.goto(authorization_url(keycloak, receiver.redirect_uri, Pkce.new(), state, "n"))
        sign_in(keycloak_page, "alice")
        assert receiver.wait()["state"] == state
