"""The console's pieces without a browser: its cookies (encrypted, of one kind, ending), the page it goes back to
after the sign-in (never another site), the provider's sign-out form, its cookie flags, where it is (config), and
the links that refusals and notifications carry to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import Response
from pydantic import ValidationError

from kubejit.adapters.notify._rendering import render
from kubejit.adapters.oidc_login import LoginIssuer, Provider, web_sign_out
from kubejit.adapters.policy_file import load_policy
from kubejit.config import BrokerConfig, ConsoleConfig, ListenConfig
from kubejit.domain.errors import Refused
from kubejit.domain.grant_book import GrantBook
from kubejit.domain.policy import Identity, Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.requestinfo import parse_request
from kubejit.domain.workflow import AccessRequest
from kubejit.entrypoints.console._cookies import CookieBox, PendingSignIn, Session, console_key
from kubejit.entrypoints.console._request_page import RequestForm, check
from kubejit.entrypoints.console._web import Console, back_path, content_security_policy
from kubejit.ports import Notification
from kubejit.services.gateway_access import GatewayAccess

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = console_key(b"k" * 32)
POLICY = load_policy("""\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: unit}
spec:
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: debug
      rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
      namespaces: ["team-*"]
      maxDuration: 1h
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
      reason: {required: true, pattern: "^INC-[0-9]+"}
""")
ALICE = Identity("alice", frozenset({"devs"}))


# ---- cookies ------------------------------------------------------------------------------------------------------


def test_a_session_cookie_opens_with_its_key_until_it_ends() -> None:
    box = CookieBox(KEY)
    session = Session.new("the.id.token", expires_at=int(NOW.timestamp()) + 60)
    sealed = box.seal_session(session)
    assert "the.id.token" not in sealed  # encrypted, not only signed
    assert box.open_session(sealed, NOW.timestamp()) == session
    assert box.open_session(sealed, NOW.timestamp() + 60) is None  # ended with the token
    assert CookieBox(console_key(b"x" * 32)).open_session(sealed, NOW.timestamp()) is None  # another installation


def test_a_changed_cookie_or_one_of_another_kind_is_nobody() -> None:
    box = CookieBox(KEY)
    sealed = box.seal_session(Session.new("t", expires_at=int(NOW.timestamp()) + 60))
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    assert box.open_session(flipped, NOW.timestamp()) is None
    assert box.open_session("not base64 at all!", NOW.timestamp()) is None
    assert box.open_session(None, NOW.timestamp()) is None
    pending = box.seal_sign_in(PendingSignIn("s", "n", "v", "/console/", int(NOW.timestamp()) + 60))
    assert box.open_session(pending, NOW.timestamp()) is None  # a sign-in cookie is never a session
    assert box.open_sign_in(sealed, NOW.timestamp()) is None


def test_each_session_has_its_own_csrf_token() -> None:
    assert Session.new("t", 1).csrf != Session.new("t", 1).csrf
    assert len(Session.new("t", 1).csrf) >= 40


@pytest.mark.parametrize(
    "wanted",
    [None, "", "https://evil.example/console/", "//evil.example/console/", "/console\\..\\x", "/api/v1/requests"],
)
def test_the_sign_in_never_goes_back_to_another_site(wanted: str | None) -> None:
    assert back_path(wanted) == "/console/"


def test_the_sign_in_goes_back_to_the_console_page_it_came_from() -> None:
    assert (
        back_path("/console/request?profile=debug&namespace=team-a")
        == "/console/request?profile=debug&namespace=team-a"
    )


# ---- signing out at the provider ----------------------------------------------------------------------------------

ISSUER = LoginIssuer("corp", "https://idp.example/realms/corp", "kubejit")


def test_the_sign_out_form_names_the_session_the_client_and_where_to_come_back() -> None:
    provider = Provider(ISSUER, "https://idp.example/token", end_session_endpoint="https://idp.example/logout?x=1")
    form = web_sign_out(provider, id_token="the.id.token", post_logout_redirect_uri="https://jit.example/console/x")
    assert form is not None
    assert form.endpoint == "https://idp.example/logout?x=1"
    assert form.fields == {
        "id_token_hint": "the.id.token",
        "client_id": "kubejit",
        "post_logout_redirect_uri": "https://jit.example/console/x",
    }
    assert form.origin == "https://idp.example"


def test_a_provider_without_an_end_session_endpoint_has_no_sign_out_form() -> None:
    provider = Provider(ISSUER, "https://idp.example/token")
    assert web_sign_out(provider, id_token="t", post_logout_redirect_uri="https://jit.example/console/x") is None


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://idp.example:8443/logout", "https://idp.example:8443"),
        ("https://[::1]:9443/logout", "https://[::1]:9443"),
        ("https://user@idp.example/logout", None),  # user info would go into the page's policy
        ("https://idp;x.example/logout", None),
        ("https://idp.example:port/logout", None),
    ],
)
def test_the_sign_out_forms_origin_is_scheme_host_and_port_or_there_is_no_form(
    endpoint: str, origin: str | None
) -> None:
    provider = Provider(ISSUER, "https://idp.example/token", end_session_endpoint=endpoint)
    form = web_sign_out(provider, id_token="t", post_logout_redirect_uri="https://jit.example/console/x")
    assert (form.origin if form else None) == origin


def test_forms_go_to_the_console_only_unless_a_page_names_the_providers_origin() -> None:
    assert "form-action 'self';" in content_security_policy()
    assert "form-action 'self' https://idp.example;" in content_security_policy("https://idp.example")


def cookie_header(console: Console) -> str:
    response = Response()
    console.set_cookie(response, console.session_cookie, "v", max_age=60)
    return response.headers["set-cookie"]


def test_session_cookies_are_http_only_same_site_lax_and_secure_over_https() -> None:
    header = cookie_header(Console("https://jit.example.com/console", CookieBox(KEY), None))
    assert header.startswith("__Host-kubejit-console=v;")
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    assert "Secure" in header
    assert "Path=/" in header
    assert "Domain" not in header
    plain = cookie_header(Console("http://127.0.0.1:8080/console", CookieBox(KEY), None))
    assert plain.startswith("kubejit-console=v;")
    assert "Secure" not in plain
    assert "HttpOnly" in plain


# ---- where the console is -------------------------------------------------------------------------------------------


def broker_config(**fields: object) -> BrokerConfig:
    return BrokerConfig.model_validate({"policyFile": "p.yaml", "oidc": [{"issuer": "https://idp.example"}], **fields})


def test_the_console_is_at_the_public_url_or_on_a_loopback_listener() -> None:
    assert broker_config(listen={"port": 8080}).console_url == "http://127.0.0.1:8080/console"
    public = broker_config(console={"publicUrl": "https://jit.example.com/"})
    assert public.console_url == "https://jit.example.com/console"
    off_loopback = broker_config(listen=ListenConfig(address="0.0.0.0", allow_plain_http=True))  # noqa: S104
    assert off_loopback.console_url is None  # nobody knows the name browsers use
    assert broker_config(console=ConsoleConfig(enabled=False)).console_url is None
    assert broker_config(listen={"port": 0}).console_url is None


@pytest.mark.parametrize("url", ["http://jit.example.com", "https://jit.example.com/kubejit", "jit.example.com"])
def test_a_public_url_that_would_leak_cookies_or_is_not_a_base_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="https:// URL"):
        ConsoleConfig(public_url=url)


# ---- the request form -----------------------------------------------------------------------------------------------


def test_the_form_is_checked_field_by_field() -> None:
    form = check(POLICY, ALICE, RequestForm("debug", "prod", "2h", "because"), NOW)
    assert "does not cover prod" in form.errors["namespaces"]
    assert "must match" in form.errors["reason"]
    assert set(form.errors) == {"namespaces", "reason"}
    too_long = check(POLICY, ALICE, RequestForm("debug", "team-a", "2h", "INC-1 x"), NOW)
    assert "longer than profile debug allows" in too_long.errors["form"]  # the workflow's own refusal
    assert check(POLICY, ALICE, RequestForm("debug", "team-a", "30m", "INC-1 x"), NOW).errors == {}
    stranger = check(POLICY, Identity("eve", frozenset()), RequestForm("debug", "team-a", "", "INC-1"), NOW)
    assert "may not request" in stranger.errors["form"]
    assert "choose a profile" in check(POLICY, ALICE, RequestForm("nope"), NOW).errors["profile"]


# ---- links to the console -------------------------------------------------------------------------------------------


def rules(profile: Profile) -> tuple[PolicyRule, ...]:
    return profile.role.rules


def test_a_refusal_for_want_of_a_grant_links_the_request_page_filled_in() -> None:
    access = GatewayAccess(
        lambda: POLICY, rules, GrantBook(timedelta(seconds=5)), console_url="https://jit.example.com/console"
    )
    access.book.replace([], NOW)
    with pytest.raises(Refused) as refused:
        access.authorize(
            parse_request("GET", "/api/v1/namespaces/team-a/pods"),
            NOW,
            grant_id=None,
            user="alice",
            groups=ALICE.groups,
        )
    assert str(refused.value).endswith(
        "or in the console: https://jit.example.com/console/request?profile=debug&namespace=team-a"
    )


def notification() -> Notification:
    request = AccessRequest("req-ab12", ALICE, "debug", ("team-a",), timedelta(minutes=10), "INC-1", NOW)
    return Notification("request.pending", request, NOW, "alice asks for debug")


def test_notifications_link_the_requests_page_when_the_console_is_known() -> None:
    page = "https://jit.example.com/console/requests/req-ab12"
    generic = json.loads(render(notification(), "generic", console_url="https://jit.example.com/console"))
    assert generic["console_url"] == page
    slack = json.loads(render(notification(), "slack", console_url="https://jit.example.com/console"))
    assert f"<{page}|Open in the kubejit console>" in json.dumps(slack["blocks"])
    assert "console_url" not in json.loads(render(notification(), "generic"))
