"""The dev OIDC issuer's sign-in state machine and request checks, with the time given to every step."""

from __future__ import annotations

import base64
import secrets

import pytest

from kubejit.devcluster.oidc_flows import (
    FORGET_AFTER_SECONDS,
    SLOW_DOWN_STEP_SECONDS,
    DevFlows,
    Lifetimes,
    SignIn,
    UserCodeError,
    shown_user_code,
)
from kubejit.devcluster.oidc_requests import (
    LoginRequest,
    OAuthError,
    PageError,
    RedirectedError,
    client_id_of,
    login_request,
    loopback_redirect_problem,
    s256_challenge,
    single_values,
    verifier_matches,
    with_query,
)
from kubejit.devcluster.users import DEV_USERS
from kubejit.domain.errors import InvalidInput

T0 = 1_700_000_000.0
VERIFIER = "v" * 43
REDIRECT = "http://127.0.0.1:5000/cb"


def login(**overrides: object) -> LoginRequest:
    values: dict[str, object] = {
        "client_id": "kubejit",
        "redirect_uri": REDIRECT,
        "state": "st",
        "code_challenge": s256_challenge(VERIFIER),
        "scope": ("openid", "groups"),
        "nonce": "n-1",
        **overrides,
    }
    return LoginRequest(**values)  # type: ignore[arg-type]


@pytest.fixture
def flows() -> DevFlows:
    return DevFlows(DEV_USERS, Lifetimes(code_ttl=60, refresh_token_ttl=3600, device_code_ttl=600, device_interval=5))


def code_for(flows: DevFlows, user: str = "alice", *, now: float = T0) -> str:
    transaction = flows.open_page(login(), now=now)
    _, code = flows.finish_login(transaction, user, now=now)
    assert code is not None
    return code


def redeem(flows: DevFlows, code: str, *, now: float = T0, **overrides: str | None) -> SignIn:
    arguments: dict[str, str | None] = {
        "client_id": "kubejit",
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        **overrides,
    }
    return flows.redeem_code(code, now=now, **arguments)  # type: ignore[arg-type]


def oauth_error(error: str) -> pytest.RaisesExc[OAuthError]:
    return pytest.raises(OAuthError, match=f"^{error}:")


# ---- authorization code ------------------------------------------------------------------------------------


def test_a_code_gives_the_sign_in_of_the_chosen_user(flows: DevFlows) -> None:
    sign_in = redeem(flows, code_for(flows, "carol"), now=T0 + 10)
    assert sign_in.user.name == "carol"
    assert sign_in.nonce == "n-1"
    assert sign_in.scope == ("openid", "groups")
    assert sign_in.session_ends_at == T0 + 3600


def test_a_code_works_once(flows: DevFlows) -> None:
    code = code_for(flows)
    redeem(flows, code)
    with oauth_error("invalid_grant"):
        redeem(flows, code)


def test_a_wrong_verifier_spends_the_code(flows: DevFlows) -> None:
    code = code_for(flows)
    with oauth_error("invalid_grant"):
        redeem(flows, code, code_verifier="w" * 43)
    with oauth_error("invalid_grant"):
        redeem(flows, code)


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_verifier": None},
        {"code_verifier": "short"},
        {"client_id": "other"},
        {"redirect_uri": "http://127.0.0.1:5001/cb"},
        {"redirect_uri": None},
    ],
)
def test_a_code_is_bound_to_client_redirect_and_verifier(flows: DevFlows, overrides: dict[str, str | None]) -> None:
    with oauth_error("invalid_grant"):
        redeem(flows, code_for(flows), **overrides)


def test_a_code_expires(flows: DevFlows) -> None:
    code = code_for(flows)
    with pytest.raises(OAuthError, match="has expired"):
        redeem(flows, code, now=T0 + 60)


def test_expired_things_are_forgotten_in_time(flows: DevFlows) -> None:
    code = code_for(flows)
    refresh = flows.issue_refresh_token(redeem(flows, code_for(flows)))
    page = flows.open_page(login(), now=T0)
    later = T0 + 3600 + FORGET_AFTER_SECONDS
    with pytest.raises(OAuthError, match="unknown"):
        redeem(flows, code, now=later)
    with pytest.raises(OAuthError, match="unknown"):
        flows.rotate_refresh_token(refresh, client_id="kubejit", now=later)
    with pytest.raises(PageError):
        flows.finish_login(page, "alice", now=later)


def test_a_replayed_code_ends_the_session_it_started(flows: DevFlows) -> None:
    code = code_for(flows)
    refresh = flows.issue_refresh_token(redeem(flows, code))
    with oauth_error("invalid_grant"):
        redeem(flows, code)
    with oauth_error("invalid_grant"):
        flows.rotate_refresh_token(refresh, client_id="kubejit", now=T0 + 1)


def test_a_session_ended_before_its_refresh_token_is_issued_gets_none(flows: DevFlows) -> None:
    code = code_for(flows)
    sign_in = redeem(flows, code)
    with oauth_error("invalid_grant"):
        redeem(flows, code)  # the replay lands between the exchange and the refresh token
    with oauth_error("invalid_grant"):
        flows.issue_refresh_token(sign_in)


def test_deny_gives_no_code(flows: DevFlows) -> None:
    request, code = flows.finish_login(flows.open_page(login(), now=T0), None, now=T0)
    assert code is None
    assert request.state == "st"


def test_a_login_page_answers_once_and_not_after_it_expires(flows: DevFlows) -> None:
    transaction = flows.open_page(login(), now=T0)
    flows.finish_login(transaction, "alice", now=T0)
    with pytest.raises(PageError, match="expired"):
        flows.finish_login(transaction, "alice", now=T0)
    late = flows.open_page(login(), now=T0)
    with pytest.raises(PageError, match="expired"):
        flows.finish_login(late, "alice", now=T0 + flows.lifetimes.page_ttl)


def test_a_device_page_cannot_answer_a_login_and_back(flows: DevFlows) -> None:
    device_page = flows.open_page(None, now=T0)
    with pytest.raises(PageError):
        flows.finish_login(device_page, "alice", now=T0)
    started = flows.start_device("kubejit", ("openid",), now=T0)
    with pytest.raises(PageError):
        flows.decide_device(flows.open_page(login(), now=T0), started.user_code, "alice", now=T0)


def test_an_unknown_user_is_refused(flows: DevFlows) -> None:
    with pytest.raises(PageError, match="not a dev user"):
        flows.finish_login(flows.open_page(login(), now=T0), "mallory", now=T0)


# ---- refresh tokens ------------------------------------------------------------------------------------------


def test_refresh_rotates_and_a_replay_ends_the_session(flows: DevFlows) -> None:
    first = flows.issue_refresh_token(redeem(flows, code_for(flows)))
    sign_in, second = flows.rotate_refresh_token(first, client_id="kubejit", now=T0 + 100)
    assert sign_in.user.name == "alice"
    assert sign_in.nonce is None  # refreshed ID tokens carry no nonce
    assert second != first
    with oauth_error("invalid_grant"):
        flows.rotate_refresh_token(first, client_id="kubejit", now=T0 + 101)
    with oauth_error("invalid_grant"):
        flows.rotate_refresh_token(second, client_id="kubejit", now=T0 + 102)
    assert flows.live_refresh_tokens() == 0


def test_a_session_ends_at_its_refresh_token_ttl_whatever_the_rotations(flows: DevFlows) -> None:
    token = flows.issue_refresh_token(redeem(flows, code_for(flows)))
    for minute in range(1, 60):
        _, token = flows.rotate_refresh_token(token, client_id="kubejit", now=T0 + 60 * minute)
    with pytest.raises(OAuthError, match="session has ended"):
        flows.rotate_refresh_token(token, client_id="kubejit", now=T0 + 3600)


def test_a_refresh_token_is_bound_to_its_client(flows: DevFlows) -> None:
    token = flows.issue_refresh_token(redeem(flows, code_for(flows)))
    with oauth_error("invalid_grant"):
        flows.rotate_refresh_token(token, client_id="other", now=T0)


def test_revocation_ends_the_session_and_ignores_unknown_tokens(flows: DevFlows) -> None:
    token = flows.issue_refresh_token(redeem(flows, code_for(flows)))
    _, newer = flows.rotate_refresh_token(token, client_id="kubejit", now=T0 + 1)
    with oauth_error("invalid_request"):
        flows.revoke(newer, client_id="other")
    flows.revoke(token, client_id="kubejit")  # a spent token still names its session
    with oauth_error("invalid_grant"):
        flows.rotate_refresh_token(newer, client_id="kubejit", now=T0 + 2)
    flows.revoke("never-issued", client_id="kubejit")


def test_lifetime_changes_apply_to_what_is_issued_next(flows: DevFlows) -> None:
    flows.lifetimes = flows.changed_lifetimes(refresh_token_ttl=10)
    assert redeem(flows, code_for(flows)).session_ends_at == T0 + 10


# ---- device authorization grant ------------------------------------------------------------------------------


def test_device_pending_slow_down_then_approved_once(flows: DevFlows) -> None:
    started = flows.start_device("kubejit", ("openid",), now=T0)
    assert (started.expires_in, started.interval) == (600, 5)
    with oauth_error("authorization_pending"):
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 5)
    with oauth_error("slow_down"):
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 8)
    assert flows.decide_device(flows.open_page(None, now=T0), started.user_code, "bob", now=T0 + 9) is not None
    with oauth_error("slow_down"):  # the interval is now 10 s
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 8 + 5 + SLOW_DOWN_STEP_SECONDS - 1)
    sign_in = flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 40)
    assert sign_in.user.name == "bob"
    assert sign_in.nonce is None
    with oauth_error("invalid_grant"):
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 60)


def test_device_denied(flows: DevFlows) -> None:
    started = flows.start_device("kubejit", ("openid",), now=T0)
    assert flows.decide_device(flows.open_page(None, now=T0), started.user_code, None, now=T0) is None
    with oauth_error("access_denied"):
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 5)
    with oauth_error("invalid_grant"):
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 10)


def test_device_code_expires(flows: DevFlows) -> None:
    started = flows.start_device("kubejit", ("openid",), now=T0)
    with pytest.raises(UserCodeError, match="expired"):
        flows.decide_device(flows.open_page(None, now=T0 + 599), started.user_code, "alice", now=T0 + 600)
    with oauth_error("expired_token"):
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 600)
    with oauth_error("invalid_grant"):  # long gone: forgotten
        flows.poll_device(started.device_code, client_id="kubejit", now=T0 + 600 + FORGET_AFTER_SECONDS)


def test_a_device_is_answered_once_and_only_by_its_code(flows: DevFlows) -> None:
    started = flows.start_device("kubejit", ("openid",), now=T0)
    with pytest.raises(UserCodeError, match="no sign-in waits"):
        flows.decide_device(flows.open_page(None, now=T0), "BBBBBBBB", "alice", now=T0)
    typed = shown_user_code(started.user_code).lower().replace("-", " ")
    flows.decide_device(flows.open_page(None, now=T0), typed, "alice", now=T0)
    with pytest.raises(UserCodeError, match="answered already"):
        flows.decide_device(flows.open_page(None, now=T0), started.user_code, "erin", now=T0)


def test_a_device_code_is_bound_to_its_client(flows: DevFlows) -> None:
    started = flows.start_device("kubejit", ("openid",), now=T0)
    with oauth_error("invalid_grant"):
        flows.poll_device(started.device_code, client_id="other", now=T0)


def test_user_codes_are_easy_to_read() -> None:
    flows = DevFlows(DEV_USERS)
    code = flows.start_device("kubejit", ("openid",), now=T0).user_code
    assert len(code) == 8
    assert set(code) <= set("BCDFGHJKLMNPQRSTVWXZ")
    assert shown_user_code(code) == f"{code[:4]}-{code[4:]}"


# ---- lifetimes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "60"])
def test_lifetimes_must_be_positive_whole_seconds(value: object) -> None:
    with pytest.raises(InvalidInput, match="id_token_ttl must be a positive whole number of seconds"):
        Lifetimes(id_token_ttl=value)  # type: ignore[arg-type]


def test_an_unknown_lifetime_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"unknown lifetime.*known: id_token_ttl"):
        DevFlows(DEV_USERS).changed_lifetimes(token_ttl=5)


# ---- request checks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:1/cb",
        "http://127.0.0.1:65535/",
        "http://localhost:8000/callback?x=1",
    ],
)
def test_loopback_redirects_pass(uri: str) -> None:
    assert loopback_redirect_problem(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "https://127.0.0.1:1/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.2:1/cb",
        "http://localhost.attacker.example:1/cb",
        "http://127.0.0.1:1@attacker.example/cb",
        "http://attacker.example@127.0.0.1:1/cb",
        "http://127.0.0.1:1\\@attacker.example/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:1/cb#x",
        "http://127.0.0.1:1/cb#",
        "javascript:alert(1)",
        "//127.0.0.1:1/cb",
    ],
)
def test_other_redirects_are_refused(uri: str) -> None:
    assert loopback_redirect_problem(uri) is not None


def request_params(**overrides: str) -> dict[str, str]:
    return {
        "client_id": "kubejit",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid groups unknown-scope",
        "state": "st",
        "code_challenge": s256_challenge(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }


def test_a_good_login_request() -> None:
    request = login_request(request_params())
    assert request.scope == ("openid", "groups")
    assert request.nonce is None


@pytest.mark.parametrize(
    "overrides", [{"client_id": "other"}, {"client_id": ""}, {"redirect_uri": "https://x.example/"}]
)
def test_an_untrusted_client_or_redirect_is_a_page(overrides: dict[str, str]) -> None:
    with pytest.raises(PageError):
        login_request(request_params(**overrides))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"state": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "x" * 42}, "invalid_request"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "groups"}, "invalid_scope"),
    ],
)
def test_other_bad_requests_go_back_to_the_client(overrides: dict[str, str], error: str) -> None:
    with pytest.raises(RedirectedError) as caught:
        login_request(request_params(**overrides))
    assert caught.value.error == error
    assert caught.value.redirect_uri == REDIRECT


def test_parameters_come_once_and_not_too_long() -> None:
    assert single_values([("a", "1"), ("b", "")]) == {"a": "1", "b": ""}
    with oauth_error("invalid_request"):
        single_values([("a", "1"), ("a", "1")])
    with oauth_error("invalid_request"):
        single_values([("a", "x" * 5000)])


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def test_the_client_is_named_in_the_body_or_by_basic_with_no_secret() -> None:
    assert client_id_of({"client_id": "kubejit"}, None) == "kubejit"
    assert client_id_of({}, basic("kubejit", "")) == "kubejit"
    assert client_id_of({"client_id": "kubejit"}, basic("kubejit", "")) == "kubejit"
    for params, authorization in [
        ({}, None),
        ({"client_id": "other"}, None),
        ({}, basic("kubejit", "secret")),
        ({"client_id": "other"}, basic("kubejit", "")),
        ({}, "Bearer abc"),
        ({}, "Basic !!!"),
    ]:
        with pytest.raises(OAuthError) as caught:
            client_id_of(params, authorization)
        assert (caught.value.error, caught.value.status) == ("invalid_client", 401)


def test_pkce_s256() -> None:
    verifier = secrets.token_urlsafe(48)
    assert verifier_matches(verifier, s256_challenge(verifier))
    assert not verifier_matches(verifier + "x", s256_challenge(verifier))
    assert not verifier_matches(verifier, verifier[:43])  # plain is not accepted
    # RFC 7636 appendix B
    assert (
        s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_redirect_query_is_appended() -> None:
    assert with_query("http://127.0.0.1:1/cb", {"code": "a b", "state": None}) == "http://127.0.0.1:1/cb?code=a+b"
    assert with_query("http://127.0.0.1:1/cb?x=1", {"code": "c"}) == "http://127.0.0.1:1/cb?x=1&code=c"
