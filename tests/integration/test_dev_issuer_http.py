"""The dev OIDC issuer's sign-in flows over real HTTPS, as a CLI and a browser use them.

The login and device pages are read as a browser would (the form, its hidden fields, its buttons) and
answered by posting the pressed button; the token endpoint is called with the parameters ``kubejit login``
sends. The last test takes an ID token obtained through the flow to the real kube-apiserver.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from kubejit.devcluster import oidc_browser
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.oidc import DevOIDCIssuer
from kubejit.devcluster.oidc_browser import PageForm
from kubejit.devcluster.oidc_requests import s256_challenge
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.devcluster.users import DEV_USERS
from kubejit.domain.errors import Unavailable
from kubejit.transport import trust_context

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REDIRECT_URI = "http://127.0.0.1:38123/callback"


class Clock:
    """The issuer's clock in these tests: real time, moved forward on demand (no sleeping for expiry)."""

    def __init__(self, start: float) -> None:
        self.at = start

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


def read_form(page: httpx.Response, *, status: int = 200) -> PageForm:
    assert page.status_code == status, page.text
    return oidc_browser.read_form(page.text)


def press(client: httpx.Client, page: httpx.Response, user: str | None, **typed: str) -> httpx.Response:
    """Press ``user``'s button (None: Deny) on ``page``'s form, after typing ``typed``."""
    form = read_form(page)
    return client.post(urljoin(str(page.url), form.action), data=form.pressing(user, **typed))


@dataclass
class Login:
    verifier: str
    state: str
    nonce: str
    redirect_uri: str = REDIRECT_URI

    @classmethod
    def new(cls) -> Login:
        return cls(secrets.token_urlsafe(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16))

    def params(self, **overrides: str) -> dict[str, str]:
        return {
            "client_id": "kubejit",
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email groups offline_access",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": s256_challenge(self.verifier),
            "code_challenge_method": "S256",
            **overrides,
        }


def query_of(answer: httpx.Response) -> dict[str, str]:
    """The parameters of a redirect back to the client, checking it goes to the loopback redirect URI."""
    assert answer.status_code in (302, 303), answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def sign_in(client: httpx.Client, issuer: DevOIDCIssuer, login: Login, user: str = "alice") -> str:
    """Through the login page as ``user``: the authorization code it redirects back with."""
    page = client.get(f"{issuer.url}/authorize", params=login.params())
    back = query_of(press(client, page, user))
    assert back["state"] == login.state
    assert back["iss"] == issuer.url
    return back["code"]


def redeem(client: httpx.Client, issuer: DevOIDCIssuer, code: str, login: Login, **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": login.redirect_uri,
        "code_verifier": login.verifier,
        "client_id": "kubejit",
        **overrides,
    }
    return client.post(f"{issuer.url}/token", data=data)


def token_call(client: httpx.Client, issuer: DevOIDCIssuer, **data: str) -> httpx.Response:
    return client.post(f"{issuer.url}/token", data={"client_id": "kubejit", **data})


def refused(answer: httpx.Response, error: str, status: int = 400) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["error"] == error, body
    description: str = body["error_description"]
    return description


def claims_of(issuer: DevOIDCIssuer, id_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, KeySet.import_key_set(issuer.jwks())).claims
    return claims


# ---- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time())


@pytest.fixture
def issuer(ca: CertificateAuthority, tmp_path: Path, clock: Clock) -> Iterator[DevOIDCIssuer]:
    issuer = DevOIDCIssuer(ca.issue_server("dev-issuer-test"), tmp_path, clock=clock, id_token_ttl=300)
    issuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture
def client(ca: CertificateAuthority) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cadata=ca.cert_pem.decode()), timeout=10.0) as client:
        yield client


# ---- discovery and the authorization code flow ---------------------------------------------------------------


def test_discovery_advertises_the_flows_a_cli_needs(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    document = client.get(f"{issuer.url}/.well-known/openid-configuration").json()
    assert document["issuer"] == issuer.url
    assert document["authorization_endpoint"] == f"{issuer.pages_url}/authorize"  # plain HTTP, loopback
    assert document["token_endpoint"] == f"{issuer.url}/token"
    assert document["device_authorization_endpoint"] == f"{issuer.url}/device/code"
    assert document["revocation_endpoint"] == f"{issuer.url}/revoke"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {"authorization_code", "refresh_token", DEVICE_GRANT}
    assert {"openid", "groups", "offline_access"} <= set(document["scopes_supported"])


def test_a_browser_opens_the_pages_over_loopback_http_which_hands_out_no_tokens(issuer: DevOIDCIssuer) -> None:
    """The pages a browser opens are served over plain HTTP on 127.0.0.1 (no warning about the dev CA); that
    listener answers only the pages and their forms: discovery, keys, tokens and revocation stay on HTTPS."""
    assert issuer.pages_url.startswith("http://127.0.0.1:")
    with httpx.Client(timeout=10.0) as plain:
        page = plain.get(f"{issuer.pages_url}/authorize", params=Login.new().params())
        assert page.status_code == 200
        assert 'action="/authorize"' in page.text
        assert plain.get(f"{issuer.pages_url}/device").status_code == 200
        for method, path in (
            ("POST", "/token"),
            ("POST", "/device/code"),
            ("POST", "/revoke"),
            ("GET", "/keys"),
            ("GET", "/.well-known/openid-configuration"),
        ):
            assert plain.request(method, f"{issuer.pages_url}{path}").status_code == 404, path


def test_the_login_page_offers_every_dev_user_with_groups_and_deny(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    page = client.get(f"{issuer.url}/authorize", params=Login.new().params())
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    form = read_form(page)
    assert form.action == "/authorize"
    assert set(form.fields) == {"transaction"}
    labels = [text for _, _, text in form.buttons]
    assert labels == [f"{u.name} ({', '.join(u.groups)})" for u in DEV_USERS] + ["Deny"]


def test_a_code_with_its_verifier_gives_an_id_token_of_the_chosen_user(
    issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock
) -> None:
    login = Login.new()
    answer = redeem(client, issuer, sign_in(client, issuer, login, user="carol"), login)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 300
    assert tokens["access_token"]
    assert tokens["refresh_token"]
    claims = claims_of(issuer, tokens["id_token"])
    assert claims["iss"] == issuer.url
    assert claims["aud"] == "kubejit"
    assert claims["sub"] == "carol"
    assert claims["groups"] == ["payments-leads", "sre-oncall"]
    assert claims["nonce"] == login.nonce
    assert claims["iat"] == claims["nbf"] == int(clock())
    assert claims["exp"] == int(clock()) + 300
    assert claims["jti"]


def test_a_wrong_verifier_is_refused_and_the_code_is_spent(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    login = Login.new()
    code = sign_in(client, issuer, login)
    wrong = redeem(client, issuer, code, login, code_verifier=secrets.token_urlsafe(48))
    assert "code_verifier" in refused(wrong, "invalid_grant")
    refused(redeem(client, issuer, code, login), "invalid_grant")


def test_a_code_needs_its_verifier_and_redirect_uri(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    login = Login.new()
    refused(redeem(client, issuer, sign_in(client, issuer, login), login, code_verifier=""), "invalid_grant")
    other = redeem(client, issuer, sign_in(client, issuer, login), login, redirect_uri="http://127.0.0.1:1/other")
    assert "redirect_uri" in refused(other, "invalid_grant")


def test_a_code_works_once_and_its_replay_ends_the_session(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    login = Login.new()
    code = sign_in(client, issuer, login)
    first = redeem(client, issuer, code, login)
    assert first.status_code == 200
    refused(redeem(client, issuer, code, login), "invalid_grant")
    again = token_call(client, issuer, grant_type="refresh_token", refresh_token=first.json()["refresh_token"])
    refused(again, "invalid_grant")


def test_a_code_expires(issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock) -> None:
    login = Login.new()
    code = sign_in(client, issuer, login)
    clock.advance(issuer.lifetimes.code_ttl + 1)
    refused(redeem(client, issuer, code, login), "invalid_grant")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/callback",
        "http://attacker.example:8000/callback",
        "http://127.0.0.1.attacker.example:8000/callback",
        "http://127.0.0.1:8000@attacker.example/callback",
        "http://127.0.0.1:8000\\@attacker.example/callback",
        "http://localhost/callback",
        "http://[::1]:8000/callback",
        "http://127.0.0.1:8000/callback#fragment",
        "",
    ],
)
def test_a_redirect_off_the_loopback_gets_a_page_never_a_redirect(
    issuer: DevOIDCIssuer, client: httpx.Client, redirect_uri: str
) -> None:
    page = client.get(f"{issuer.url}/authorize", params=Login.new().params(redirect_uri=redirect_uri))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert "Redirect refused" in page.text
    assert "<form" not in page.text


def test_localhost_with_any_port_is_a_good_redirect(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    login = Login.new()
    page = client.get(f"{issuer.url}/authorize", params=login.params(redirect_uri="http://localhost:1/cb?x=1"))
    location = press(client, page, "bob").headers["location"]
    assert location.startswith("http://localhost:1/cb?x=1&code=")


def test_an_unknown_client_gets_a_page(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    page = client.get(f"{issuer.url}/authorize", params=Login.new().params(client_id="someone-else"))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "someone-else" in page.text


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
    ],
)
def test_a_bad_request_of_a_trusted_client_is_sent_back_to_it(
    issuer: DevOIDCIssuer, client: httpx.Client, overrides: dict[str, str], error: str
) -> None:
    login = Login.new()
    back = query_of(client.get(f"{issuer.url}/authorize", params=login.params(**overrides)))
    assert back["error"] == error
    assert back["state"] == login.state
    assert "code" not in back


def test_deny_answers_access_denied(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    login = Login.new()
    back = query_of(press(client, client.get(f"{issuer.url}/authorize", params=login.params()), None))
    assert back["error"] == "access_denied"
    assert back["state"] == login.state
    assert "code" not in back


def test_a_login_page_answers_once(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    page = client.get(f"{issuer.url}/authorize", params=Login.new().params())
    assert press(client, page, "alice").status_code == 303
    replay = press(client, page, "erin")
    assert replay.status_code == 400
    assert "location" not in replay.headers
    forged = client.post(f"{issuer.url}/authorize", data={"transaction": "made-up", "user": "erin"})
    assert forged.status_code == 400
    assert "location" not in forged.headers


# ---- the device authorization grant ------------------------------------------------------------------------


def start_device(client: httpx.Client, issuer: DevOIDCIssuer) -> dict[str, Any]:
    answer = client.post(f"{issuer.url}/device/code", data={"client_id": "kubejit", "scope": "openid groups"})
    assert answer.status_code == 200, answer.text
    started: dict[str, Any] = answer.json()
    return started


def poll(client: httpx.Client, issuer: DevOIDCIssuer, started: dict[str, Any]) -> httpx.Response:
    return token_call(client, issuer, grant_type=DEVICE_GRANT, device_code=started["device_code"])


def test_device_flow_pending_then_slow_down_then_approved(
    issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock
) -> None:
    started = start_device(client, issuer)
    assert started["verification_uri"] == f"{issuer.pages_url}/device"
    assert started["verification_uri_complete"].startswith(f"{issuer.pages_url}/device?user_code=")
    assert started["interval"] == issuer.lifetimes.device_interval
    refused(poll(client, issuer, started), "authorization_pending")
    refused(poll(client, issuer, started), "slow_down")  # at once: too fast
    page = client.get(started["verification_uri_complete"])
    assert read_form(page).fields["user_code"] == started["user_code"]
    done = press(client, page, "dave")
    assert done.status_code == 200
    assert "signed in as dave" in done.text
    clock.advance(started["interval"] + 5)  # the interval grew by 5 s at slow_down
    tokens = poll(client, issuer, started)
    assert tokens.status_code == 200, tokens.text
    assert claims_of(issuer, tokens.json()["id_token"])["sub"] == "dave"
    clock.advance(started["interval"] + 5)
    refused(poll(client, issuer, started), "invalid_grant")  # the device code worked once


def test_device_code_typed_by_hand_in_any_case(issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock) -> None:
    started = start_device(client, issuer)
    page = client.get(started["verification_uri"])
    assert read_form(page).fields["user_code"] == ""
    typed = started["user_code"].lower().replace("-", " ")
    assert press(client, page, "erin", user_code=typed).status_code == 200
    clock.advance(started["interval"])
    assert claims_of(issuer, poll(client, issuer, started).json()["id_token"])["sub"] == "erin"


def test_device_flow_denied(issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock) -> None:
    started = start_device(client, issuer)
    assert "denied" in press(client, client.get(started["verification_uri_complete"]), None).text
    clock.advance(started["interval"])
    refused(poll(client, issuer, started), "access_denied")


def test_device_flow_expired(issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock) -> None:
    with issuer.using_lifetimes(device_code_ttl=30):
        started = start_device(client, issuer)
    assert started["expires_in"] == 30
    clock.advance(31)
    page = client.get(started["verification_uri_complete"])
    late = press(client, page, "alice")
    assert late.status_code == 400
    assert "has expired" in late.text
    refused(poll(client, issuer, started), "expired_token")


def test_a_wrong_user_code_shows_the_page_again(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    start_device(client, issuer)
    again = press(client, client.get(f"{issuer.url}/device"), "alice", user_code="BBBB-BBBB")
    assert again.status_code == 400
    assert "BBBB-BBBB" in again.text
    assert read_form(again, status=400).fields["transaction"]  # a fresh form to try again


# ---- refresh, revocation, client checks ---------------------------------------------------------------------


def signed_in_tokens(client: httpx.Client, issuer: DevOIDCIssuer, user: str = "alice") -> dict[str, Any]:
    login = Login.new()
    answer = redeem(client, issuer, sign_in(client, issuer, login, user=user), login)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def test_refresh_rotates_and_the_old_token_stops_working(
    issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock
) -> None:
    first = signed_in_tokens(client, issuer, user="bob")
    clock.advance(400)  # the ID token has expired
    answer = token_call(client, issuer, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert answer.status_code == 200, answer.text
    second = answer.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = claims_of(issuer, second["id_token"])
    assert (claims["sub"], claims["exp"]) == ("bob", int(clock()) + 300)
    assert "nonce" not in claims
    old = token_call(client, issuer, grant_type="refresh_token", refresh_token=first["refresh_token"])
    refused(old, "invalid_grant")
    # that replay ended the session: the newest refresh token no longer works either
    refused(
        token_call(client, issuer, grant_type="refresh_token", refresh_token=second["refresh_token"]), "invalid_grant"
    )


def test_a_session_ends_after_the_refresh_token_ttl(issuer: DevOIDCIssuer, client: httpx.Client, clock: Clock) -> None:
    with issuer.using_lifetimes(refresh_token_ttl=600):
        tokens = signed_in_tokens(client, issuer)
    assert tokens["refresh_expires_in"] == 600
    clock.advance(300)
    rotated = token_call(client, issuer, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert rotated["refresh_expires_in"] == 300  # rotation does not extend the session
    clock.advance(301)
    late = token_call(client, issuer, grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    refused(late, "invalid_grant")


def test_revoked_refresh_token_is_refused(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    tokens = signed_in_tokens(client, issuer)
    revoked = client.post(
        f"{issuer.url}/revoke",
        data={"client_id": "kubejit", "token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
    )
    assert revoked.status_code == 200
    refused(
        token_call(client, issuer, grant_type="refresh_token", refresh_token=tokens["refresh_token"]), "invalid_grant"
    )
    unknown = client.post(f"{issuer.url}/revoke", data={"client_id": "kubejit", "token": "never-issued"})
    assert unknown.status_code == 200  # RFC 7009 2.2


def test_the_token_endpoint_knows_its_client_and_grants(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    stranger = client.post(f"{issuer.url}/token", data={"client_id": "other", "grant_type": "refresh_token"})
    refused(stranger, "invalid_client", status=401)
    refused(client.post(f"{issuer.url}/token", data={"grant_type": "refresh_token"}), "invalid_client", status=401)
    refused(token_call(client, issuer, grant_type="password"), "unsupported_grant_type")
    refused(token_call(client, issuer, grant_type="refresh_token"), "invalid_request")
    twice = client.post(
        f"{issuer.url}/token",
        content="client_id=kubejit&client_id=kubejit",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    refused(twice, "invalid_request")
    as_json = client.post(f"{issuer.url}/token", json={"client_id": "kubejit"})
    refused(as_json, "invalid_request")


def test_basic_client_authentication_with_an_empty_secret_is_accepted(
    issuer: DevOIDCIssuer, client: httpx.Client
) -> None:
    login = Login.new()
    code = sign_in(client, issuer, login)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": login.verifier,
    }
    answer = client.post(f"{issuer.url}/token", data=data, auth=("kubejit", ""))
    assert answer.status_code == 200, answer.text
    with_secret = client.post(f"{issuer.url}/token", data=data, auth=("kubejit", "s3cret"))
    refused(with_secret, "invalid_client", status=401)


# ---- end to end: kube-apiserver trusts what the flow issues ---------------------------------------------------


def test_kube_apiserver_accepts_an_id_token_from_the_login_flow(devcluster: DevCluster) -> None:
    issuer = devcluster.issuer
    context = trust_context(cadata=devcluster.ca.cert_pem)
    with httpx.Client(verify=context, timeout=10.0) as client:
        login = Login.new()
        tokens = redeem(client, issuer, sign_in(client, issuer, login, user="carol"), login).json()
        review = client.post(
            f"{devcluster.server_url}/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            headers={"Authorization": f"Bearer {tokens['id_token']}"},
        )
    assert issuer.lifetimes.id_token_ttl == devcluster.id_token_ttl  # DevCluster passes its settings on
    assert review.status_code == 201, review.text
    user = review.json()["status"]["userInfo"]
    assert user["username"] == "carol"
    assert {"payments-leads", "sre-oncall"} <= set(user["groups"])


def test_what_a_request_says_is_escaped_on_the_pages(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    script = '"><script>alert(1)</script>'
    page = client.get(f"{issuer.url}/device", params={"user_code": script})
    assert "<script>" not in page.text
    assert read_form(page).fields["user_code"] == script  # shown back as typed, as text
    again = press(client, page, "alice")
    assert "<script>" not in again.text
    unknown = client.get(f"{issuer.url}/authorize", params=Login.new().params(client_id=script))
    assert "<script>" not in unknown.text


def test_an_idle_connection_does_not_stall_the_issuer(issuer: DevOIDCIssuer, client: httpx.Client) -> None:
    """Browsers open connections they may never use; the TLS handshake must not block other clients."""
    port = urlsplit(issuer.url).port
    with socket.create_connection(("127.0.0.1", port or 443)):
        answer = client.get(f"{issuer.url}/.well-known/openid-configuration", timeout=3.0)
    assert answer.status_code == 200


# ---- the scripted person (oidc_browser), as the CLI's tests use it -----------------------------------------


class Callback(BaseHTTPRequestHandler):
    """The loopback listener of a CLI: records the query it is redirected to."""

    received: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_scripted_person_signs_in_through_a_loopback_listener(
    issuer: DevOIDCIssuer, ca: CertificateAuthority, client: httpx.Client
) -> None:
    listener = HTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=listener.handle_request, daemon=True)
    thread.start()
    login = Login.new()
    login.redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}/callback"
    url = f"{issuer.url}/authorize?{urlencode(login.params())}"
    verify = ssl.create_default_context(cadata=ca.cert_pem.decode())
    try:
        location = oidc_browser.sign_in(url, "erin", verify=verify)
        thread.join(5)
    finally:
        listener.server_close()
    (path,) = Callback.received
    assert location.endswith(path)
    code = parse_qs(urlsplit(path).query)["code"][0]
    tokens = redeem(client, issuer, code, login).json()
    assert claims_of(issuer, tokens["id_token"])["sub"] == "erin"
    denied = oidc_browser.sign_in(url, None, verify=verify, deliver=False)
    assert "error=access_denied" in denied


def test_the_scripted_person_answers_the_device_page(
    issuer: DevOIDCIssuer, ca: CertificateAuthority, client: httpx.Client, clock: Clock
) -> None:
    verify = ssl.create_default_context(cadata=ca.cert_pem.decode())
    started = start_device(client, issuer)
    text = oidc_browser.answer_device(started["verification_uri"], "bob", verify=verify, user_code=started["user_code"])
    assert "signed in as bob" in text
    clock.advance(started["interval"])
    assert claims_of(issuer, poll(client, issuer, started).json()["id_token"])["sub"] == "bob"
    other = start_device(client, issuer)
    assert "denied" in oidc_browser.answer_device(other["verification_uri_complete"], None, verify=verify)
    with pytest.raises(Unavailable, match="no button for 'mallory'"):
        oidc_browser.answer_device(other["verification_uri_complete"], "mallory", verify=verify)
