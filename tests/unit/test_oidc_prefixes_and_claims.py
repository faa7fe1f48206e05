"""Per-issuer prefixes, policy claims and discovery URLs in the verifier: the names kubejit uses are the prefixed
names the cluster sees (and the name checks apply to them), only the listed claims are kept, and the discovery
document is fetched where the issuer's ``discoveryUrl`` says while its ``issuer`` must still match."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from kubejit.adapters.idp import OidcIssuer, OidcVerifier
from kubejit.adapters.idp._claims import identity_from
from kubejit.adapters.idp._policy_claims import policy_claims
from kubejit.domain.errors import InvalidInput, Unauthenticated, Unavailable
from kubejit.domain.policy import Identity
from tests.unit.fakes import FakeClock
from tests.unit.test_oidc_claims import NOW, URL, claims

CI = OidcIssuer(
    url=URL,
    audience="kubejit",
    username_prefix="ci:",
    groups_prefix="ci-groups:",
    policy_claims=("kubernetes.io/namespace", "kubernetes.io/serviceaccount/name", "repository", "flag", "run"),
)
SA_CLAIMS = {
    "sub": "system:serviceaccount:ci:deployer",
    "groups": ["builders"],
    "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "deployer", "uid": "u-1"}},
    "flag": True,
    "run": 42,
    "ignored": "not listed",
}


def test_names_are_prefixed_and_listed_claims_are_kept() -> None:
    identity = identity_from(claims(**SA_CLAIMS), CI, NOW)
    assert identity == Identity(
        "ci:system:serviceaccount:ci:deployer",
        frozenset({"ci-groups:builders"}),
        (
            ("flag", "true"),
            ("kubernetes.io/namespace", "ci"),
            ("kubernetes.io/serviceaccount/name", "deployer"),
            ("run", "42"),
        ),
    )
    assert identity.claim("kubernetes.io/namespace") == "ci"
    assert identity.claim("repository") is None  # listed but absent: simply not there


def test_an_issuer_that_lists_no_claims_contributes_none() -> None:
    plain = OidcIssuer(url=URL, audience="kubejit")
    assert identity_from(claims(**{**SA_CLAIMS, "sub": "deployer"}), plain, NOW).claims == ()


def test_only_text_values_are_kept() -> None:
    odd = {"a": ["x"], "b": {"c": 1}, "d": None, "e": 1.5, "f": "y" * 2000, "g/h": "literal", "g": {"h": "nested"}}
    assert policy_claims(odd, ["a", "b", "d", "e", "f", "g/h", "b/c", "missing/x"]) == (
        ("b/c", "1"),
        ("g/h", "literal"),
    )


def test_name_checks_apply_to_the_prefixed_name() -> None:
    # Unprefixed, a ServiceAccount's name is in system:, which no IdP may hand out; prefixed it is not.
    plain = OidcIssuer(url=URL, audience="kubejit")
    with pytest.raises(Unauthenticated, match="system:"):
        identity_from(claims(sub="system:serviceaccount:ci:deployer"), plain, NOW)
    assert identity_from(claims(sub="system:x", groups=[]), CI, NOW).user == "ci:system:x"
    # A prefix that an IdP name could finish into system: is refused when the issuer is made.
    with pytest.raises(InvalidInput, match="reserved system:"):
        OidcIssuer(url=URL, audience="kubejit", username_prefix="sys")
    with pytest.raises(InvalidInput, match="reserved system:"):
        OidcIssuer(url=URL, audience="kubejit", groups_prefix="system:")


def test_a_group_name_problem_is_reported_with_the_prefix() -> None:
    with pytest.raises(Unauthenticated, match="after the prefix 'ci-groups:'"):
        identity_from(claims(groups=["ok", "bad\u200b"]), CI, NOW)


class SplitIssuer:
    """An issuer whose discovery document lives elsewhere than {issuer}/.well-known/openid-configuration."""

    def __init__(self, announced: str = URL) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
        self.announced = announced
        self.urls: list[str] = []
        self.client = httpx.Client(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if str(request.url) == "https://discovery.example/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": self.announced, "jwks_uri": "https://discovery.example/jwks"})
        if str(request.url) == "https://discovery.example/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        return httpx.Response(404)

    def mint(self, **changes: Any) -> str:
        return jwt.encode({"alg": "ES256", "kid": "k1"}, claims(**changes), self.key)


def split_issuer() -> OidcIssuer:
    return OidcIssuer(
        url=URL,
        audience="kubejit",
        discovery_url="https://discovery.example/.well-known/openid-configuration",
        username_prefix="ci:",
        groups_prefix="ci:",
        clock_skew=timedelta(seconds=30),
    )


def test_the_discovery_url_is_honoured() -> None:
    idp = SplitIssuer()
    with idp.client, OidcVerifier([split_issuer()], clock=FakeClock(NOW), http=idp.client) as verifier:
        assert verifier.verify(idp.mint()).user == "ci:alice"
    assert idp.urls == [
        "https://discovery.example/.well-known/openid-configuration",
        "https://discovery.example/jwks",
    ]


def test_the_document_at_the_discovery_url_must_still_name_the_issuer() -> None:
    idp = SplitIssuer(announced="https://discovery.example")
    with (
        idp.client,
        OidcVerifier([split_issuer()], clock=FakeClock(NOW), http=idp.client) as verifier,
        pytest.raises(Unavailable, match=re.escape("calls itself 'https://discovery.example'")),
    ):
        verifier.verify(idp.mint())


def test_a_plain_http_discovery_url_off_loopback_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"discovery URL .* must use https"):
        OidcIssuer(url=URL, audience="kubejit", discovery_url="http://discovery.example/x")
