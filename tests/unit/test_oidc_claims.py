"""The OIDC claims checks and the verifier's refusals, with an injected clock and an in-memory issuer.

``identity_from`` is checked on claims alone (issuer, audience, expiry, not-before, issued-at, user name and
groups) at exact moments taken from a fake clock, never by sleeping. The verifier is driven through its public
API against an issuer whose discovery document and key set are served by an in-memory httpx transport, to show
that unsigned and HMAC tokens are refused before any key is fetched and that expiry follows the clock.
The real dev issuer is in tests/integration/test_oidc_verifier.py.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from kubejit.adapters.idp import OidcIssuer, OidcVerifier
from kubejit.adapters.idp._claims import identity_from
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.policy import Identity
from tests.unit.fakes import FakeClock

URL = "https://idp.example.com"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ISSUER = OidcIssuer(url=URL, audience="kubejit", clock_skew=timedelta(seconds=30))


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for alice at NOW (issued a minute ago, valid for ten); ``None`` removes a claim."""
    base: dict[str, Any] = {
        "iss": URL,
        "aud": "kubejit",
        "sub": "alice",
        "groups": ["payments-devs"],
        "iat": seconds(NOW - timedelta(minutes=1)),
        "nbf": seconds(NOW - timedelta(minutes=1)),
        "exp": seconds(NOW + timedelta(minutes=9)),
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def refusal(token_claims: dict[str, Any], at: datetime = NOW, issuer: OidcIssuer = ISSUER) -> str:
    with pytest.raises(Unauthenticated) as caught:
        identity_from(token_claims, issuer, at)
    return str(caught.value)


# ---- claims ---------------------------------------------------------------------------------------------------


def test_valid_claims_name_the_user_and_groups() -> None:
    assert identity_from(claims(), ISSUER, NOW) == Identity("alice", frozenset({"payments-devs"}))
    assert identity_from(claims(aud=["dashboard", "kubejit"]), ISSUER, NOW).user == "alice"


def test_expiry_is_exact_to_the_second_within_the_skew() -> None:
    exp = NOW + timedelta(minutes=9)
    assert identity_from(claims(), ISSUER, exp + timedelta(seconds=29, microseconds=999_999)).user == "alice"
    message = refusal(claims(), at=exp + timedelta(seconds=30))
    assert message == "the token expired at 2026-11-28 12:09:00 UTC; get a new one (kubejit login)"


def test_a_sub_second_skew_still_counts() -> None:
    issuer = OidcIssuer(url=URL, audience="kubejit", clock_skew=timedelta(milliseconds=500))
    exp = NOW + timedelta(minutes=9)
    assert identity_from(claims(), issuer, exp + timedelta(milliseconds=499)).user == "alice"
    assert "expired" in refusal(claims(), at=exp + timedelta(milliseconds=500), issuer=issuer)
    nbf = NOW + timedelta(minutes=1)
    early = claims(nbf=seconds(nbf), iat=None)
    assert identity_from(early, issuer, nbf - timedelta(milliseconds=500)).user == "alice"
    assert "not valid before" in refusal(early, at=nbf - timedelta(milliseconds=501), issuer=issuer)


def test_a_token_not_valid_yet_is_refused() -> None:
    nbf = NOW + timedelta(minutes=5)
    message = refusal(claims(nbf=seconds(nbf), iat=None))
    assert message.startswith("the token is not valid before 2026-11-28 12:05:00 UTC")
    assert identity_from(claims(nbf=seconds(nbf), iat=None), ISSUER, nbf - timedelta(seconds=30)).user == "alice"


def test_a_token_issued_in_the_future_is_refused() -> None:
    assert "in the future" in refusal(claims(iat=seconds(NOW + timedelta(minutes=5)), nbf=None))


def test_a_token_of_another_issuer_is_refused() -> None:
    assert refusal(claims(iss="https://evil.example.com")) == f"the token was not issued by {URL}"
    assert refusal(claims(iss=None)) == f"the token was not issued by {URL}"
    assert refusal(claims(iss=None, aud=None)) == f"the token was not issued by {URL}"


def test_a_token_for_another_audience_is_refused() -> None:
    assert refusal(claims(aud="grafana")).startswith("the token is for audience 'grafana', not 'kubejit'")
    assert refusal(claims(aud=["a", "b"])).startswith("the token is for audience 'a', 'b', not 'kubejit'")
    assert refusal(claims(aud=[])).startswith("the token is for audience none, not 'kubejit'")
    assert refusal(claims(aud=None)).startswith("the token names no audience (aud)")
    assert refusal(claims(aud=7)).startswith("the token names no audience (aud)")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exp": None}, "the token has no 'exp' claim; get a new one from your identity provider"),
        ({"exp": "tomorrow"}, "the token's 'exp' claim is not a time (seconds since 1970)"),
        ({"exp": True}, "the token's 'exp' claim is not a time (seconds since 1970)"),
        ({"exp": float("nan")}, "the token's 'exp' claim is not a valid time"),
        ({"exp": 10**20}, "the token's 'exp' claim is not a valid time"),
        ({"exp": -(10**20)}, "the token's 'exp' claim is not a valid time"),
        ({"nbf": "soon"}, "the token's 'nbf' claim is not a time (seconds since 1970)"),
        ({"iat": [1]}, "the token's 'iat' claim is not a time (seconds since 1970)"),
    ],
    ids=repr,
)
def test_missing_or_malformed_times_are_refused(changes: dict[str, Any], message: str) -> None:
    assert refusal(claims(**changes)) == message


def test_optional_times_may_be_absent_or_null() -> None:
    assert identity_from(claims(nbf=None, iat=None), ISSUER, NOW).user == "alice"
    assert identity_from({**claims(), "nbf": None, "iat": None}, ISSUER, NOW).user == "alice"


def test_the_issuer_is_checked_first_then_the_audience_then_the_times() -> None:
    expired_elsewhere = claims(iss="https://other.example.com", aud="grafana", exp=seconds(NOW - timedelta(hours=1)))
    assert "not issued by" in refusal(expired_elsewhere)
    assert "audience" in refusal(claims(aud="grafana", exp=None))
    assert "expired" in refusal(claims(exp=seconds(NOW - timedelta(hours=1)), nbf=seconds(NOW + timedelta(hours=1))))


def test_user_name_and_groups_claims() -> None:
    assert "no user name in its 'sub' claim" in refusal(claims(sub=None))
    assert "no user name in its 'sub' claim" in refusal(claims(sub=" "))
    by_email = OidcIssuer(url=URL, audience="kubejit", username_claim="email", groups_claim="roles")
    dave = claims(email="dave@example.com", roles="auditors", sub=42)
    assert identity_from(dave, by_email, NOW) == Identity("dave@example.com", frozenset({"auditors"}))
    unverified = {**dave, "email_verified": False}
    assert refusal(unverified, issuer=by_email) == "the token's email address is not verified by the identity provider"
    assert identity_from(claims(groups=None), ISSUER, NOW).groups == frozenset()
    assert "'groups' claim is not a list of group names" in refusal(claims(groups=["ok", None]))


# ---- the verifier, against an in-memory issuer ------------------------------------------------------------------


class InMemoryIssuer:
    """Serves a discovery document and one ES256 key over an httpx transport, counting what it is asked."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
        self.paths: list[str] = []
        self.client = httpx.Client(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": URL, "jwks_uri": f"{URL}/keys"})
        if request.url.path == "/keys":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        return httpx.Response(404)

    def mint(self, **changes: Any) -> str:
        return jwt.encode({"alg": "ES256", "kid": "k1"}, claims(**changes), self.key)


@pytest.fixture
def idp() -> Iterator[InMemoryIssuer]:
    issuer = InMemoryIssuer()
    with issuer.client:
        yield issuer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims()).encode()), b64(signature)])


def test_a_valid_token_expires_when_the_clock_says_so(idp: InMemoryIssuer) -> None:
    clock = FakeClock(NOW)
    with OidcVerifier([ISSUER], clock=clock, http=idp.client) as verifier:
        token = idp.mint()
        assert verifier.verify(token) == Identity("alice", frozenset({"payments-devs"}))
        clock.advance(minutes=9, seconds=29)
        assert verifier.verify(token).user == "alice"
        clock.advance(seconds=1)
        with pytest.raises(Unauthenticated, match="the token expired at 2026-11-28 12:09:00 UTC"):
            verifier.verify(token)
    assert idp.paths == ["/.well-known/openid-configuration", "/keys"]


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ({"alg": "none", "kid": "k1"}, "not signed (alg none)"),
        ({"alg": "None"}, "not signed (alg none)"),
        ({"alg": "HS256", "kid": "k1"}, "shared secret"),
        ({"alg": "ES256", "kid": 7}, "key id (kid) is not a string"),
        ({"alg": ""}, "names no signing algorithm"),
        ({"typ": "JWT"}, "names no signing algorithm"),
    ],
    ids=repr,
)
def test_unsigned_and_shared_secret_tokens_are_refused_before_any_fetch(
    idp: InMemoryIssuer, header: dict[str, Any], fragment: str
) -> None:
    verifier = OidcVerifier([ISSUER], clock=FakeClock(NOW), http=idp.client)
    with verifier, pytest.raises(Unauthenticated, match=re.escape(fragment)):
        verifier.verify(forged(header, b"x"))
    assert idp.paths == []


def test_a_forged_signature_and_a_foreign_issuer_are_refused(idp: InMemoryIssuer) -> None:
    with OidcVerifier([ISSUER], clock=FakeClock(NOW), http=idp.client) as verifier:
        head, payload, _ = idp.mint().split(".")
        other = jwt.encode({"alg": "ES256", "kid": "k1"}, claims(), ECKey.generate_key("P-256"))
        with pytest.raises(Unauthenticated, match="signature does not verify"):
            verifier.verify(f"{head}.{payload}.{other.split('.')[2]}")
        with pytest.raises(Unauthenticated, match=re.escape("'https://evil.example.com' are not accepted here")):
            verifier.verify(idp.mint(iss="https://evil.example.com"))


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("", "no bearer token"),
        ("x" * 70_000, "too long"),
        ("not-a-jwt", "not a signed JWT"),
        ("a.b.c.d", "not a signed JWT"),
        ("eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln", "not a well-formed JWT"),
        (b64(b'["alg"]') + ".e30.c2ln", "not a well-formed JWT"),
    ],
    ids=["empty", "huge", "word", "four-parts", "payload-not-json", "header-not-an-object"],
)
def test_malformed_tokens_are_refused(idp: InMemoryIssuer, token: str, fragment: str) -> None:
    verifier = OidcVerifier([ISSUER], clock=FakeClock(NOW), http=idp.client)
    with verifier, pytest.raises(Unauthenticated, match=fragment):
        verifier.verify(token)
