"""The gateway's authentication: a bearer token becomes the caller (user, groups and the grant a grant token
names), with grant tokens signed by the broker checked by the real verifier, and ID tokens by a fake issuer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubejit.adapters.grant_tokens import GrantTokenSigner, GrantTokenVerifier, load_or_create_key
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.grant_token import AUDIENCE, ISSUER, GrantClaims
from kubejit.domain.policy import Identity as Person
from kubejit.domain.requestinfo import parse_request
from kubejit.services.gateway_access import GatewayAccess
from kubejit.services.gateway_authentication import GatewayAuthentication, Identity, VerifiedGrantTokens
from tests.unit.policies import policy

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def claims(user: str = "alice", grant: str = "g1", *, expires: datetime = NOW + timedelta(minutes=5)) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user,
        "groups": ["devs"],
        "gid": grant,
        "profile": "ops",
        "ns": ["team-a"],
        "iat": int(NOW.timestamp()),
        "nbf": int(NOW.timestamp()) - 5,
        "exp": int(expires.timestamp()),
        "jti": "j1",
    }


class FakeIdTokens:
    """An OIDC issuer that knows a fixed set of ID tokens."""

    def __init__(self, known: dict[str, Person]) -> None:
        self.known = known
        self.asked: list[str] = []

    def verify(self, token: str) -> Person:
        self.asked.append(token)
        if token not in self.known:
            raise Unauthenticated("not an ID token of the configured issuer")
        return self.known[token]


class CountingCheck:
    """Counts the signature checks that reach the real verifier."""

    def __init__(self, verifier: GrantTokenVerifier) -> None:
        self.verifier = verifier
        self.calls = 0

    def verify(self, token: str, now: datetime) -> GrantClaims:
        self.calls += 1
        return self.verifier.verify(token, now)


@pytest.fixture
def broker_key(tmp_path: Path) -> GrantTokenSigner:
    return GrantTokenSigner(load_or_create_key(tmp_path / "broker.key"))


def authentication(signer: GrantTokenSigner, id_tokens: FakeIdTokens | None = None) -> GatewayAuthentication:
    return GatewayAuthentication(VerifiedGrantTokens(GrantTokenVerifier(signer.public_jwks())), id_tokens)


def test_a_valid_grant_token_names_its_user_groups_and_grant(broker_key: GrantTokenSigner) -> None:
    token = broker_key.sign(claims())
    assert authentication(broker_key).authenticate(token, NOW) == Identity("alice", frozenset({"devs"}), "g1")


def test_an_expired_grant_token_is_refused(broker_key: GrantTokenSigner) -> None:
    token = broker_key.sign(claims(expires=NOW - timedelta(seconds=1)))
    with pytest.raises(Unauthenticated, match="expired"):
        authentication(broker_key).authenticate(token, NOW)


def test_a_remembered_token_is_refused_once_it_expires(broker_key: GrantTokenSigner) -> None:
    """The signature is checked once per token; its expiry on every request."""
    check = CountingCheck(GrantTokenVerifier(broker_key.public_jwks()))
    auth = GatewayAuthentication(VerifiedGrantTokens(check))
    token = broker_key.sign(claims(expires=NOW + timedelta(minutes=1)))
    auth.authenticate(token, NOW)
    auth.authenticate(token, NOW + timedelta(seconds=30))
    assert check.calls == 1
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate(token, NOW + timedelta(minutes=1))


def test_a_token_signed_by_another_key_is_refused(broker_key: GrantTokenSigner, tmp_path: Path) -> None:
    foreign = GrantTokenSigner(load_or_create_key(tmp_path / "foreign.key"))
    with pytest.raises(Unauthenticated, match="not valid here"):
        authentication(broker_key).authenticate(foreign.sign(claims()), NOW)


def test_a_grant_token_of_another_users_grant_does_not_open_it(broker_key: GrantTokenSigner) -> None:
    """Mallory's token names Bob's grant: authentication says who she is, the access check refuses the grant."""
    identity = authentication(broker_key).authenticate(broker_key.sign(claims("mallory", "bobs-grant")), NOW)
    assert (identity.user, identity.grant_id) == ("mallory", "bobs-grant")
    book = GrantBook(timedelta(seconds=30))
    book.replace([ActiveGrant("bobs-grant", "bob", frozenset(), "ops", ("team-a",), NOW + timedelta(hours=1))], NOW)
    access = GatewayAccess(policy, lambda _profile: (), book)
    with pytest.raises(Unauthenticated, match="another user's grant"):
        access.authorize(
            parse_request("GET", "/api/v1/namespaces/team-a/pods", ""),
            NOW,
            grant_id=identity.grant_id,
            user=identity.user,
        )


def test_an_id_token_names_its_user_and_no_grant(broker_key: GrantTokenSigner) -> None:
    issuer = FakeIdTokens({"id-token-of-carol": Person("carol", frozenset({"oncall"}))})
    identity = authentication(broker_key, issuer).authenticate("id-token-of-carol", NOW)
    assert identity == Identity("carol", frozenset({"oncall"}), None)


def test_a_grant_token_is_not_shown_to_the_issuer(broker_key: GrantTokenSigner) -> None:
    issuer = FakeIdTokens({})
    authentication(broker_key, issuer).authenticate(broker_key.sign(claims()), NOW)
    assert issuer.asked == []


def test_without_an_issuer_an_unknown_token_is_refused_as_a_grant_token(broker_key: GrantTokenSigner) -> None:
    with pytest.raises(Unauthenticated, match="grant token"):
        authentication(broker_key).authenticate("not-a-token", NOW)


def test_an_unknown_token_is_refused_by_the_issuer_when_there_is_one(broker_key: GrantTokenSigner) -> None:
    issuer = FakeIdTokens({})
    with pytest.raises(Unauthenticated, match="configured issuer"):
        authentication(broker_key, issuer).authenticate("not-a-token", NOW)
    assert issuer.asked == ["not-a-token"]
