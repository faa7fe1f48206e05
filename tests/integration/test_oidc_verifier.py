"""The broker's token verifier against the real dev OIDC issuer that kube-apiserver also trusts.

Valid ID tokens of every dev user give the identity kube-apiserver sees (DESIGN.md section 6); expired,
early, foreign, altered, unsigned, HMAC-confused, badly-shaped tokens are refused with a message a person can
act on, which never contains the token. Keys are fetched once and reused; a rotated key is picked up by one
refetch; an unreachable issuer is reported as unavailable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from kubejit.adapters.idp import OidcIssuer, OidcVerifier
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.oidc import DevOIDCIssuer
from kubejit.devcluster.users import DEV_USERS, DevUser, dev_user
from kubejit.domain.errors import InvalidInput, Unauthenticated, Unavailable
from kubejit.domain.policy import Identity

# ---- helpers ------------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWT with whatever header, claims and signature a test wants."""
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload))


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def refused(verifier: OidcVerifier, token: str, *fragments: str) -> str:
    """Verify that ``token`` is refused, that the message says ``fragments`` and never shows the token."""
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert token not in message
    for part in token.split("."):
        if len(part) > 16:
            assert part not in message, "a part of the token leaked into the message"
    return message


def kid_of(issuer: DevOIDCIssuer) -> str:
    kid = issuer.jwks()["keys"][0]["kid"]
    assert isinstance(kid, str)
    return kid


def rotate(issuer: DevOIDCIssuer) -> None:
    """Give a test-owned issuer a new signing key: its key set then publishes only the new one."""
    issuer._key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    issuer._kid = issuer._key.thumbprint()


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class CountingClient:
    """An httpx client trusting the dev CA that counts the requests it sends (the verifier's fetches)."""

    def __init__(self, ca_pem: bytes) -> None:
        self.count = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self.client = httpx.Client(
            verify=ssl.create_default_context(cadata=ca_pem.decode()),
            timeout=5.0,
            event_hooks={"request": [self._seen]},
        )

    def _seen(self, request: httpx.Request) -> None:
        with self._lock:
            self.count += 1
            self.paths.append(request.url.path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---- fixtures -----------------------------------------------------------------------------------------------


def trust(issuer: DevOIDCIssuer, ca_pem: bytes, **overrides: Any) -> OidcIssuer:
    return OidcIssuer(url=issuer.url, audience=issuer.audience, ca_pem=ca_pem, **overrides)


@pytest.fixture
def verifier(devcluster: DevCluster) -> Iterator[OidcVerifier]:
    with OidcVerifier([trust(devcluster.issuer, devcluster.ca.cert_pem)]) as verifier:
        yield verifier


@pytest.fixture
def counting(devcluster: DevCluster) -> Iterator[CountingClient]:
    counting = CountingClient(devcluster.ca.cert_pem)
    with counting.client:
        yield counting


@pytest.fixture
def own_issuer(devcluster: DevCluster, tmp_path: Path) -> Iterator[DevOIDCIssuer]:
    """A second issuer of our own (served over HTTPS with a dev-CA certificate), free to rotate or stop."""
    issuer = DevOIDCIssuer(devcluster.ca.issue_server(f"test-oidc-{uuid.uuid4().hex[:6]}"), tmp_path)
    issuer.start()
    yield issuer
    issuer.stop()


# ---- valid tokens -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", DEV_USERS, ids=lambda u: u.name)
def test_each_dev_user_is_seen_with_their_groups(devcluster: DevCluster, verifier: OidcVerifier, user: DevUser) -> None:
    identity = verifier.verify(devcluster.mint_token(user.name, ttl_seconds=300))
    assert identity == Identity(user.name, frozenset(user.groups))


def test_an_audience_list_that_contains_ours_is_accepted(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    token = devcluster.issuer.mint(dev_user("bob"), extra_claims={"aud": ["dashboard", "kubejit"]})
    assert verifier.verify(token).user == "bob"


def test_clock_skew_is_tolerated_and_no_more(devcluster: DevCluster) -> None:
    issued = int(time.time())
    token = devcluster.mint_token("alice", ttl_seconds=60, now=issued)
    expiry = datetime.fromtimestamp(issued + 60, UTC)
    issuer = trust(devcluster.issuer, devcluster.ca.cert_pem, clock_skew=timedelta(seconds=30))
    clock = FixedClock(expiry + timedelta(seconds=29))
    with OidcVerifier([issuer], clock=clock) as verifier:
        assert verifier.verify(token).user == "alice"
        clock.at = expiry + timedelta(seconds=30)
        refused(verifier, token, "expired")
        clock.at = datetime.fromtimestamp(issued, UTC) - timedelta(seconds=29)
        assert verifier.verify(token).user == "alice"
        clock.at = datetime.fromtimestamp(issued, UTC) - timedelta(seconds=31)
        refused(verifier, token, "not valid before")


def test_missing_groups_claim_means_no_groups(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    token = devcluster.issuer.mint(dev_user("alice"), extra_claims={"groups": None})
    assert verifier.verify(token) == Identity("alice", frozenset())


def test_another_username_claim_can_be_configured(devcluster: DevCluster) -> None:
    issuer = trust(devcluster.issuer, devcluster.ca.cert_pem, username_claim="email", groups_claim="roles")
    token = devcluster.issuer.mint(
        dev_user("dave"), extra_claims={"email": "dave@example.com", "roles": ["auditors", "readers"]}
    )
    unverified = devcluster.issuer.mint(
        dev_user("dave"), extra_claims={"email": "dave@example.com", "email_verified": False}
    )
    with OidcVerifier([issuer]) as verifier:
        assert verifier.verify(token) == Identity("dave@example.com", frozenset({"auditors", "readers"}))
        refused(verifier, unverified, "email address is not verified")


# ---- refused tokens -----------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    issued = int(time.time()) - 3600
    token = devcluster.mint_token("alice", ttl_seconds=600, now=issued)
    expired = datetime.fromtimestamp(issued + 600, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    refused(verifier, token, f"the token expired at {expired}", "get a new one")


def test_a_token_not_valid_yet_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    token = devcluster.mint_token("alice", ttl_seconds=600, now=time.time() + 3600)
    refused(verifier, token, "not valid before")


def test_a_token_issued_in_the_future_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    token = devcluster.issuer.mint(dev_user("alice"), extra_claims={"iat": int(time.time()) + 3600})
    refused(verifier, token, "in the future")


def test_a_token_for_another_audience_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    token = devcluster.mint_token("alice", audience="grafana")
    refused(verifier, token, "the token is for audience 'grafana', not 'kubejit'")


def test_a_token_of_another_issuer_is_refused(own_issuer: DevOIDCIssuer, verifier: OidcVerifier) -> None:
    token = own_issuer.mint(dev_user("erin"))
    refused(verifier, token, f"tokens from '{own_issuer.url}' are not accepted here")


def test_a_token_naming_no_issuer_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    token = devcluster.issuer.mint(dev_user("erin"), extra_claims={"iss": None})
    refused(verifier, token, "names no issuer")


def test_a_tampered_token_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    original = devcluster.mint_token("alice")
    head, payload, signature = original.split(".")
    header, claims = parts(original)
    claims.update(sub="erin", groups=["platform-admins"])
    escalated = forge(header, claims).split(".")[1]
    refused(verifier, f"{head}.{escalated}.{signature}", "signature does not verify")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    refused(verifier, f"{head}.{payload}.{flipped}", "signature does not verify")


def test_a_token_signed_by_another_key_with_the_same_kid_is_refused(
    devcluster: DevCluster, verifier: OidcVerifier
) -> None:
    header, claims = parts(devcluster.mint_token("alice"))
    impostor = RSAKey.generate_key(2048)
    token = jwt.encode({"alg": "RS256", "kid": kid_of(devcluster.issuer)}, claims, impostor)
    assert parts(token)[0]["kid"] == header["kid"]
    refused(verifier, token, "signature does not verify", devcluster.issuer.url)


def test_an_unsigned_token_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    header, claims = parts(devcluster.mint_token("alice"))
    refused(verifier, forge({**header, "alg": "none"}, claims), "not signed (alg none)")
    refused(verifier, forge({**header, "alg": "None"}, claims, b"x"), "not signed")


def test_hmac_signed_with_the_public_key_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    """Algorithm confusion: the attacker knows the public key and uses it as an HMAC secret."""
    _, claims = parts(devcluster.mint_token("alice"))
    claims.update(sub="erin", groups=["platform-admins"])
    public = RSAKey.import_key(devcluster.issuer.jwks()["keys"][0])
    secrets = [
        public.as_pem(private=False),
        json.dumps(devcluster.issuer.jwks()["keys"][0]).encode(),
    ]
    for secret in secrets:
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            header = {"alg": alg, "kid": kid_of(devcluster.issuer), "typ": "JWT"}
            unsigned = forge(header, claims).rsplit(".", 1)[0]
            signature = hmac.new(secret, unsigned.encode(), digest).digest()
            refused(verifier, f"{unsigned}.{b64(signature)}", "shared secret", alg)


def test_an_algorithm_outside_the_allow_list_is_refused(devcluster: DevCluster) -> None:
    issuer = trust(devcluster.issuer, devcluster.ca.cert_pem, allowed_algorithms=("ES256",))
    with OidcVerifier([issuer]) as verifier:
        refused(verifier, devcluster.mint_token("alice"), "RS256", "not allowed", "allowed: ES256")


def test_a_key_of_the_wrong_type_for_the_algorithm_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    """ES256 in the header while the kid names the issuer's RSA key: no key fits, nothing is verified."""
    _, claims = parts(devcluster.mint_token("alice"))
    token = jwt.encode({"alg": "ES256", "kid": kid_of(devcluster.issuer)}, claims, ECKey.generate_key("P-256"))
    refused(verifier, token, "does not publish for ES256")


def test_a_missing_or_empty_user_name_is_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    refused(verifier, devcluster.issuer.mint(dev_user("alice"), extra_claims={"sub": None}), "'sub' claim")
    refused(verifier, devcluster.issuer.mint(dev_user("alice"), extra_claims={"sub": ""}), "'sub' claim")
    refused(verifier, devcluster.issuer.mint(dev_user("alice"), extra_claims={"sub": 42}), "'sub' claim")
    issuer = trust(devcluster.issuer, devcluster.ca.cert_pem, username_claim="email")
    with OidcVerifier([issuer]) as by_email:
        refused(by_email, devcluster.mint_token("alice"), "no user name in its 'email' claim")


@pytest.mark.parametrize("groups", [[1, 2], {"admins": True}, ["ok", None], 7], ids=repr)
def test_groups_of_the_wrong_type_are_refused(devcluster: DevCluster, verifier: OidcVerifier, groups: object) -> None:
    token = devcluster.issuer.mint(dev_user("alice"), extra_claims={"groups": groups})
    refused(verifier, token, "'groups' claim is not a list of group names")


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b", "a.b.c.d.e", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", "x" * 70_000],
    ids=["empty", "word", "two-parts", "jwe-shape", "payload-not-json", "huge"],
)
def test_malformed_tokens_are_refused(verifier: OidcVerifier, token: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert token not in str(caught.value) or not token


def test_expired_claims_of_wrong_types_are_refused(devcluster: DevCluster, verifier: OidcVerifier) -> None:
    refused(verifier, devcluster.issuer.mint(dev_user("alice"), extra_claims={"exp": "tomorrow"}), "'exp' claim")
    refused(verifier, devcluster.issuer.mint(dev_user("alice"), extra_claims={"exp": None}), "no 'exp' claim")
    refused(verifier, devcluster.issuer.mint(dev_user("alice"), extra_claims={"aud": None}), "names no audience")


# ---- keys: caching, rotation, availability ------------------------------------------------------------------


def test_a_thousand_tokens_cost_two_fetches(devcluster: DevCluster, counting: CountingClient) -> None:
    """Discovery and key set once, from a cold cache hit by eight threads at once; then no network."""
    tokens = [devcluster.mint_token(DEV_USERS[i % len(DEV_USERS)].name, ttl_seconds=600) for i in range(1000)]
    issuer = trust(devcluster.issuer, devcluster.ca.cert_pem)
    with OidcVerifier([issuer], http=counting.client) as verifier, ThreadPoolExecutor(max_workers=8) as pool:
        started = time.perf_counter()
        identities = list(pool.map(verifier.verify, tokens))
        elapsed = time.perf_counter() - started
    assert [i.user for i in identities] == [DEV_USERS[i % len(DEV_USERS)].name for i in range(1000)]
    assert counting.count == 2, counting.paths
    assert counting.paths == ["/.well-known/openid-configuration", "/keys"]
    assert elapsed < 20, f"1000 verifications took {elapsed:.1f}s"


def test_a_rotated_key_is_fetched_once_and_unknown_kids_are_rate_limited(
    devcluster: DevCluster, own_issuer: DevOIDCIssuer, counting: CountingClient
) -> None:
    with OidcVerifier([trust(own_issuer, devcluster.ca.cert_pem)], http=counting.client) as verifier:
        old_token = own_issuer.mint(dev_user("carol"))
        assert verifier.verify(old_token).user == "carol"
        assert counting.count == 2

        rotate(own_issuer)
        new_token = own_issuer.mint(dev_user("bob"))
        assert verifier.verify(new_token) == Identity("bob", frozenset({"payments-leads"}))
        assert counting.count == 4, "one refetch (discovery + keys) for the unknown kid"
        for _ in range(20):
            assert verifier.verify(new_token).user == "bob"
        refused(verifier, old_token, "does not publish")  # the withdrawn key is no longer trusted

        # Tokens naming random unknown kids do not make the verifier hammer the issuer.
        _, claims = parts(new_token)
        for _ in range(50):
            forged = jwt.encode({"alg": "RS256", "kid": uuid.uuid4().hex}, claims, RSAKey.generate_key(2048))
            refused(verifier, forged, "does not publish", "try again in a minute")
        assert counting.count == 4


def test_unknown_kids_refetch_again_after_the_interval(
    devcluster: DevCluster, own_issuer: DevOIDCIssuer, counting: CountingClient
) -> None:
    clock = FixedClock(datetime.now(UTC))
    issuer = trust(own_issuer, devcluster.ca.cert_pem)
    with OidcVerifier(
        [issuer], http=counting.client, clock=clock, min_refetch_interval=timedelta(seconds=60)
    ) as verifier:
        verifier.verify(own_issuer.mint(dev_user("alice")))
        rotate(own_issuer)
        verifier.verify(own_issuer.mint(dev_user("alice")))
        assert counting.count == 4
        rotate(own_issuer)
        refused(verifier, own_issuer.mint(dev_user("alice")), "does not publish")
        assert counting.count == 4
        clock.at += timedelta(seconds=61)
        assert verifier.verify(own_issuer.mint(dev_user("alice"))).user == "alice"
        assert counting.count == 6


def test_old_keys_are_refreshed_in_passing(
    devcluster: DevCluster, own_issuer: DevOIDCIssuer, counting: CountingClient
) -> None:
    clock = FixedClock(datetime.now(UTC))
    issuer = trust(own_issuer, devcluster.ca.cert_pem)
    with OidcVerifier([issuer], http=counting.client, clock=clock, max_key_age=timedelta(minutes=10)) as verifier:
        token = own_issuer.mint(dev_user("alice"))
        verifier.verify(token)
        clock.at += timedelta(minutes=11)
        own_issuer.stop()  # the issuer is down: the cached keys are kept
        assert verifier.verify(token).user == "alice"
        assert counting.count == 3  # two fetches, then one failed discovery


def test_an_unreachable_issuer_is_unavailable(devcluster: DevCluster, own_issuer: DevOIDCIssuer) -> None:
    token = own_issuer.mint(dev_user("alice"))
    own_issuer.stop()
    with OidcVerifier([trust(own_issuer, devcluster.ca.cert_pem)]) as verifier:
        with pytest.raises(Unavailable) as caught:
            verifier.verify(token)
        assert own_issuer.url in str(caught.value)
        assert token not in str(caught.value)
        with pytest.raises(Unavailable):  # and again, without waiting on the network
            verifier.verify(token)


def test_an_issuer_that_names_itself_differently_is_unavailable(devcluster: DevCluster, tmp_path: Path) -> None:
    class Confused(DevOIDCIssuer):
        def discovery(self) -> dict[str, Any]:
            return {**super().discovery(), "issuer": "https://idp.example.com"}

    issuer = Confused(devcluster.ca.issue_server("confused-oidc"), tmp_path)
    issuer.start()
    try:
        token = issuer.mint(dev_user("alice"))
        verifier = OidcVerifier([trust(issuer, devcluster.ca.cert_pem)])
        with verifier, pytest.raises(Unavailable, match="must match its 'issuer' exactly"):
            verifier.verify(token)
    finally:
        issuer.stop()


def test_keys_over_plain_http_are_not_fetched(devcluster: DevCluster, tmp_path: Path) -> None:
    class Careless(DevOIDCIssuer):
        def discovery(self) -> dict[str, Any]:
            return {**super().discovery(), "jwks_uri": "http://keys.example.com/jwks"}

    issuer = Careless(devcluster.ca.issue_server("careless-oidc"), tmp_path)
    issuer.start()
    try:
        token = issuer.mint(dev_user("alice"))
        verifier = OidcVerifier([trust(issuer, devcluster.ca.cert_pem)])
        with verifier, pytest.raises(Unavailable, match="must use https"):
            verifier.verify(token)
    finally:
        issuer.stop()


def test_the_issuer_certificate_must_be_trusted(devcluster: DevCluster) -> None:
    """Without the dev CA, the issuer's serving certificate is not trusted and no key is fetched."""
    token = devcluster.mint_token("alice")
    verifier = OidcVerifier([OidcIssuer(url=devcluster.issuer.url, audience="kubejit")])
    with verifier, pytest.raises(Unavailable, match="cannot reach the identity provider"):
        verifier.verify(token)


# ---- configuration ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"url": "http://idp.example.com"}, "must use https"),
        ({"url": "idp.example.com"}, "not an absolute URL"),
        ({"audience": " "}, "audience"),
        ({"allowed_algorithms": ("HS256",)}, "not accepted"),
        ({"allowed_algorithms": ("RS256", "none")}, "not accepted"),
        ({"allowed_algorithms": ()}, "at least one"),
        ({"clock_skew": timedelta(hours=1)}, "clock skew"),
    ],
)
def test_bad_issuer_configuration_is_invalid_input(overrides: dict[str, Any], fragment: str) -> None:
    settings: dict[str, Any] = {"url": "https://idp.example.com", "audience": "kubejit", **overrides}
    with pytest.raises(InvalidInput, match=fragment):
        OidcIssuer(**settings)


def test_an_issuer_configured_twice_is_invalid_input() -> None:
    issuer = OidcIssuer(url="https://idp.example.com", audience="kubejit")
    with pytest.raises(InvalidInput, match="configured twice"):
        OidcVerifier([issuer, issuer])
