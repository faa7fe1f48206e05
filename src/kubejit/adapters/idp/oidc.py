"""Validates OpenID Connect ID tokens against the keys their issuer publishes.

Why it exists: kubejit must see the same identity kube-apiserver sees (DESIGN.md section 6), and both trust the
same issuers. The broker's API and the gateway call :meth:`OidcVerifier.verify` for every request, from a thread
pool, so the hot path is a dictionary lookup and one signature check: key sets are fetched once per issuer
(discovery, then ``jwks_uri``), cached, refreshed in the background of a request when they grow old, and
refetched at once, rate-limited, when a token names a key the cache does not know (key rotation).

Security choices, each enforced by raising :class:`~kubejit.domain.errors.Unauthenticated` (never ``assert``):

* the issuer is chosen among configured ones by the token's unverified ``iss``; after the signature checks out
  the verified ``iss`` must still be that issuer;
* only asymmetric algorithms from the issuer's allow-list are accepted: ``alg: none`` and every ``HS*`` are
  refused before any key is looked at, and the key must have the type (and curve) the algorithm needs, so a
  public key can never be used as an HMAC secret (algorithm confusion);
* keys come only from HTTPS (or loopback HTTP, for tests), RSA keys shorter than 2048 bits are ignored;
* messages say what is wrong and what to do, and never contain the token.

An issuer that cannot be reached, or that publishes something unusable, raises
:class:`~kubejit.domain.errors.Unavailable`: that is for the operator to fix, not the token holder.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import re
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from kubejit.domain.errors import InvalidInput, Unauthenticated, Unavailable
from kubejit.domain.policy import Identity
from kubejit.ports import Clock

log = logging.getLogger(__name__)

# alg -> (JWK key type, curve or None). HS* and "none" are deliberately absent; so is "EdDSA", which RFC 9864
# deprecates in favour of the fully specified "Ed25519" / "Ed448".
_KEY_FOR_ALGORITHM: Final[Mapping[str, tuple[str, str | None]]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "Ed25519": ("OKP", "Ed25519"),
    "Ed448": ("OKP", "Ed448"),
}
SUPPORTED_ALGORITHMS: Final[frozenset[str]] = frozenset(_KEY_FOR_ALGORITHM)
DEFAULT_ALGORITHMS: Final[tuple[str, ...]] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "Ed25519",
)

_MAX_TOKEN_LENGTH = 64 * 1024
_MAX_DOCUMENT_BYTES = 1024 * 1024
_MAX_CLOCK_SKEW = timedelta(minutes=5)
_MIN_RSA_BITS = 2048
_RETRY_AFTER_FAILURE = timedelta(seconds=5)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problem(url: str) -> str | None:
    """Why ``url`` may not be fetched for keys, or None: HTTPS, or plain HTTP to loopback only."""
    parts = urlsplit(url)
    if not parts.hostname:
        return f"{url!r} is not an absolute URL"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return None
    return f"{url!r} must use https (plain http is allowed only on loopback, for tests)"


def _show(value: object, limit: int = 120) -> str:
    """A claim value from an unverified token, quoted and cut short: it is attacker-controlled text."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class OidcIssuer:
    """One trusted OpenID Connect issuer, as kube-apiserver's AuthenticationConfiguration also names it."""

    url: str
    audience: str
    ca_pem: bytes | None = field(default=None, repr=False)
    username_claim: str = "sub"
    groups_claim: str = "groups"
    clock_skew: timedelta = timedelta(seconds=30)
    allowed_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS

    def __post_init__(self) -> None:
        problem = _url_problem(self.url)
        if problem is not None:
            raise InvalidInput(f"OIDC issuer URL {problem}")
        if urlsplit(self.url).query or urlsplit(self.url).fragment:
            raise InvalidInput(f"OIDC issuer URL {self.url!r} must not have a query or fragment")
        if not self.audience.strip():
            raise InvalidInput(f"OIDC issuer {self.url}: the audience (client id) must not be empty")
        if not self.username_claim:
            raise InvalidInput(f"OIDC issuer {self.url}: the username claim must not be empty")
        if not self.groups_claim:
            raise InvalidInput(f"OIDC issuer {self.url}: the groups claim must not be empty")
        if not timedelta(0) <= self.clock_skew <= _MAX_CLOCK_SKEW:
            raise InvalidInput(f"OIDC issuer {self.url}: the clock skew must be between 0s and 5m")
        if not self.allowed_algorithms:
            raise InvalidInput(f"OIDC issuer {self.url}: allow at least one signing algorithm")
        unknown = [a for a in self.allowed_algorithms if a not in SUPPORTED_ALGORITHMS]
        if unknown:
            raise InvalidInput(
                f"OIDC issuer {self.url}: algorithms {', '.join(map(repr, unknown))} are not accepted; "
                f"choose among the public-key algorithms {', '.join(sorted(SUPPORTED_ALGORITHMS))}"
            )

    def ssl_context(self) -> ssl.SSLContext:
        """TLS trust for this issuer: only ``ca_pem`` when given, the system's roots otherwise."""
        if self.ca_pem is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as error:
            raise InvalidInput(f"OIDC issuer {self.url}: ca_pem is not a PEM certificate bundle ({error})") from error


@dataclass(frozen=True)
class _PublicKey:
    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Key

    def fits(self, alg: str) -> bool:
        kty, crv = _KEY_FOR_ALGORITHM[alg]
        return self.kty == kty and (crv is None or self.crv == crv) and self.alg in (None, alg)


@dataclass(frozen=True)
class _KeyCache:
    keys: tuple[_PublicKey, ...] = ()
    fetched_at: datetime | None = None  # None: never fetched successfully
    generation: int = 0


class _UTCClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class _IssuerKeys:
    """The cached key set of one issuer; reads are lock-free, fetches are serialized per issuer."""

    def __init__(
        self,
        issuer: OidcIssuer,
        http: httpx.Client,
        *,
        min_refetch_interval: timedelta,
        max_key_age: timedelta,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._min_refetch = min_refetch_interval
        self._max_age = max_key_age
        self._lock = threading.Lock()
        self._cache = _KeyCache()
        self._last_attempt: datetime | None = None
        self._last_kid_fetch: datetime | None = None
        self._last_failure: tuple[datetime, str] | None = None

    # ---- the hot path -------------------------------------------------------------------------------------

    def current(self, now: datetime) -> _KeyCache:
        """The cached keys, fetched first if there are none (raises Unavailable when that fails)."""
        cache = self._cache
        if cache.fetched_at is None:
            return self._refresh(cache, now)
        if not timedelta(0) <= now - cache.fetched_at < self._max_age:
            self._refresh_in_passing(cache, now)
            return self._cache
        return cache

    def after_unknown_kid(self, seen: _KeyCache, now: datetime) -> _KeyCache | None:
        """Fetch again because a token named a key we do not know (rotation), at most once per
        ``min_refetch_interval``; None when rate-limited."""
        current = self._cache
        if current.generation != seen.generation:
            return current
        if self._too_soon_for_kid_fetch(now):
            return None
        fresher = self._refresh(seen, now, for_unknown_kid=True)
        return None if fresher.generation == seen.generation else fresher

    def _too_soon_for_kid_fetch(self, now: datetime) -> bool:
        last = self._last_kid_fetch
        return last is not None and timedelta(0) <= now - last < self._min_refetch

    # ---- fetching -----------------------------------------------------------------------------------------

    def _refresh(self, seen: _KeyCache, now: datetime, *, for_unknown_kid: bool = False) -> _KeyCache:
        with self._lock:
            if self._cache.generation != seen.generation:
                return self._cache  # another thread fetched while this one waited
            if for_unknown_kid:
                if self._too_soon_for_kid_fetch(now):
                    return seen
                self._last_kid_fetch = now
            failure = self._last_failure
            if failure is not None and timedelta(0) <= now - failure[0] < _RETRY_AFTER_FAILURE:
                raise Unavailable(failure[1])
            return self._fetch(now)

    def _refresh_in_passing(self, seen: _KeyCache, now: datetime) -> None:
        """Renew old keys without holding up the others: one request's thread fetches (at most every few
        seconds while the issuer fails), the rest go on with what is cached."""
        last = self._last_attempt
        if last is not None and timedelta(0) <= now - last < _RETRY_AFTER_FAILURE:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._cache.generation == seen.generation:
                self._fetch(now)
        except Unavailable as error:
            log.warning("keeping the cached keys of %s: %s", self.issuer.url, error)
        finally:
            self._lock.release()

    def _fetch(self, now: datetime) -> _KeyCache:
        """Discovery, then the key set; called with the lock held."""
        self._last_attempt = now
        try:
            discovery = self._get_json(self._discovery_url(), "its discovery document")
            jwks_uri = self._check_discovery(discovery)
            keys = self._parse_key_set(self._get_json(jwks_uri, "its key set"), jwks_uri)
        except Unavailable as error:
            self._last_failure = (now, str(error))
            raise
        self._last_failure = None
        self._cache = _KeyCache(keys, now, self._cache.generation + 1)
        log.info("fetched %d signing keys of %s", len(keys), self.issuer.url)
        return self._cache

    def _discovery_url(self) -> str:
        return self.issuer.url.rstrip("/") + "/.well-known/openid-configuration"

    def _get_json(self, url: str, what: str) -> Mapping[str, Any]:
        issuer = self.issuer.url
        try:
            with self._http.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise Unavailable(
                        f"the identity provider {issuer} answered the request for {what} ({url}) "
                        f"with HTTP {response.status_code}; check that it is up and that the issuer URL is right"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_DOCUMENT_BYTES:
                        raise Unavailable(f"the identity provider {issuer} sent more than 1 MiB as {what} ({url})")
        except httpx.HTTPError as error:
            raise Unavailable(
                f"cannot reach the identity provider {issuer} for {what} ({url}): {error}; try again later"
            ) from error
        try:
            document = json.loads(body)
        except ValueError as error:
            raise Unavailable(f"the identity provider {issuer} sent {what} that is not JSON ({url})") from error
        if not isinstance(document, dict):
            raise Unavailable(f"the identity provider {issuer} sent {what} that is not a JSON object ({url})")
        return document

    def _check_discovery(self, discovery: Mapping[str, Any]) -> str:
        url = self.issuer.url
        announced = discovery.get("issuer")
        if announced != url:
            raise Unavailable(
                f"the identity provider at {url} calls itself {_show(announced)}: the configured issuer URL "
                "must match its 'issuer' exactly (including any trailing slash); fix the configuration"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise Unavailable(f"the discovery document of {url} has no jwks_uri")
        problem = _url_problem(jwks_uri)
        if problem is not None:
            raise Unavailable(f"the identity provider {url} publishes its keys at {problem}")
        return jwks_uri

    def _parse_key_set(self, document: Mapping[str, Any], jwks_uri: str) -> tuple[_PublicKey, ...]:
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise Unavailable(f"the key set of {self.issuer.url} ({jwks_uri}) has no 'keys' list")
        keys = tuple(key for key in map(_public_key, entries) if key is not None)
        if not keys:
            raise Unavailable(f"the identity provider {self.issuer.url} publishes no usable signing key at {jwks_uri}")
        return keys


def _public_key(entry: object) -> _PublicKey | None:
    """A signing key from one JWK, or None when it is not one we would verify with."""
    if not isinstance(entry, dict):
        return None
    kty, kid, use, alg, crv = (entry.get(name) for name in ("kty", "kid", "use", "alg", "crv"))
    ops = entry.get("key_ops")
    if use not in (None, "sig") or (ops is not None and (not isinstance(ops, list) or "verify" not in ops)):
        return None
    if not (kid is None or isinstance(kid, str)) or not (alg is None or isinstance(alg, str)):
        return None
    public = {name: value for name, value in entry.items() if name not in _PRIVATE_MEMBERS}
    try:
        if kty == "RSA":
            modulus = public.get("n")
            if not isinstance(modulus, str) or _b64_int(modulus).bit_length() < _MIN_RSA_BITS:
                log.warning("ignoring RSA key %s: shorter than %d bits", _show(kid), _MIN_RSA_BITS)
                return None
            key: Key = RSAKey.import_key(public)
            crv = None
        elif kty == "EC" and crv in ("P-256", "P-384", "P-521"):
            key = ECKey.import_key(public)
        elif kty == "OKP" and crv in ("Ed25519", "Ed448"):
            key = OKPKey.import_key(public)
        else:
            return None
    except (JoseError, ValueError, TypeError, KeyError, binascii.Error) as error:
        log.warning("ignoring a key the issuer publishes (kid %s): %s", _show(kid), error)
        return None
    return _PublicKey(kid=kid, kty=kty, crv=crv if isinstance(crv, str) else None, alg=alg, key=key)


def _b64_int(text: str) -> int:
    return int.from_bytes(_b64decode(text), "big")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims as the token states them, before anything is trusted; only used to route."""
    if not isinstance(token, str) or not token:
        raise Unauthenticated("no bearer token was sent; log in (kubejit login) and try again")
    if len(token) > _MAX_TOKEN_LENGTH:
        raise Unauthenticated("the bearer token is too long to be an ID token")
    if not _TOKEN_SHAPE.fullmatch(token):
        raise Unauthenticated(
            "the bearer token is not a signed JWT (three base64url parts separated by dots); send an ID token"
        )
    header_part, payload_part, _ = token.split(".")
    try:
        header = json.loads(_b64decode(header_part))
        claims = json.loads(_b64decode(payload_part))
    except (ValueError, binascii.Error) as error:
        raise Unauthenticated("the bearer token is not a well-formed JWT: its header or claims are not JSON") from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Unauthenticated("the bearer token is not a well-formed JWT: its header or claims are not JSON objects")
    return header, claims


def _numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> datetime | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise Unauthenticated(f"the token has no '{name}' claim; get a new one from your identity provider")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"the token's '{name}' claim is not a time (seconds since 1970)")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise Unauthenticated(f"the token's '{name}' claim is not a valid time") from error


class OidcVerifier:
    """A :class:`~kubejit.ports.TokenVerifier` for ID tokens of configured OpenID Connect issuers.

    Thread-safe. ``http`` (optional) is used for every issuer and stays the caller's to close; without it one
    client per issuer is made, trusting that issuer's ``ca_pem``, and :meth:`close` closes them.
    ``min_refetch_interval`` limits how often a token naming an unknown key may trigger a fetch;
    ``max_key_age`` is how long a key set is used before it is fetched again in passing.
    """

    def __init__(
        self,
        issuers: Sequence[OidcIssuer],
        *,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        min_refetch_interval: timedelta = timedelta(seconds=60),
        max_key_age: timedelta = timedelta(minutes=10),
        request_timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        if not issuers:
            raise InvalidInput("configure at least one OIDC issuer")
        if min_refetch_interval < timedelta(0) or max_key_age <= timedelta(0):
            raise InvalidInput("min_refetch_interval must not be negative and max_key_age must be positive")
        self._clock: Clock = clock or _UTCClock()
        self._owned: list[httpx.Client] = []
        self._issuers: dict[str, _IssuerKeys] = {}
        self._registries = {
            alg: JWSRegistry(algorithms=[alg], strict_check_header=False) for alg in SUPPORTED_ALGORITHMS
        }
        try:
            for issuer in issuers:
                if issuer.url in self._issuers:
                    raise InvalidInput(f"OIDC issuer {issuer.url} is configured twice; configure each issuer once")
                client = http or self._client_for(issuer, request_timeout)
                self._issuers[issuer.url] = _IssuerKeys(
                    issuer, client, min_refetch_interval=min_refetch_interval, max_key_age=max_key_age
                )
        except BaseException:
            self.close()
            raise

    def _client_for(self, issuer: OidcIssuer, timeout: timedelta) -> httpx.Client:
        client = httpx.Client(
            verify=issuer.ssl_context(),
            timeout=timeout.total_seconds(),
            follow_redirects=False,
            headers={"User-Agent": "kubejit"},
        )
        self._owned.append(client)
        return client

    def close(self) -> None:
        """Close the HTTP clients this verifier made (not one passed in)."""
        while self._owned:
            self._owned.pop().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- TokenVerifier ----------------------------------------------------------------------------------

    def verify(self, token: str) -> Identity:
        """The identity in ``token``; raises Unauthenticated when it is not valid here, Unavailable when the
        issuer's keys cannot be fetched."""
        header, unverified = _unverified_parts(token)
        issuer_keys = self._issuer_of(unverified.get("iss"))
        issuer = issuer_keys.issuer
        alg = self._algorithm(header, issuer)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("the token's key id (kid) is not a string")
        now = self._clock.now()
        key = self._key(issuer_keys, kid, alg, now)
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], registry=self._registries[alg]).claims
        except (JoseError, ValueError, TypeError) as error:
            raise Unauthenticated(
                f"the token's signature does not verify with the keys of {issuer.url}: it was altered or not "
                "issued there; get a new token"
            ) from error
        return self._identity(claims, issuer, now)

    # ---- steps --------------------------------------------------------------------------------------------

    def _issuer_of(self, iss: object) -> _IssuerKeys:
        found = self._issuers.get(iss) if isinstance(iss, str) else None
        if found is None:
            accepted = ", ".join(sorted(self._issuers))
            if iss is None:
                raise Unauthenticated(f"the token names no issuer (iss); tokens from {accepted} are accepted here")
            raise Unauthenticated(f"tokens from {_show(iss)} are not accepted here; accepted issuers: {accepted}")
        return found

    @staticmethod
    def _algorithm(header: Mapping[str, Any], issuer: OidcIssuer) -> str:
        alg = header.get("alg")
        allowed = ", ".join(issuer.allowed_algorithms)
        if not isinstance(alg, str) or not alg:
            raise Unauthenticated("the token's header names no signing algorithm (alg)")
        if alg.lower() == "none":
            raise Unauthenticated(f"the token is not signed (alg none); only tokens signed with {allowed} are accepted")
        if alg.upper().startswith("HS"):
            raise Unauthenticated(
                f"the token is signed with a shared secret ({_show(alg)}); only public-key signatures "
                f"({allowed}) from {issuer.url} are accepted"
            )
        if alg not in issuer.allowed_algorithms:
            raise Unauthenticated(
                f"the token is signed with {_show(alg)}, which is not allowed for {issuer.url}; allowed: {allowed}"
            )
        return alg

    @staticmethod
    def _key(issuer_keys: _IssuerKeys, kid: str | None, alg: str, now: datetime) -> _PublicKey:
        cache = issuer_keys.current(now)
        key = _match(cache.keys, kid, alg)
        if key is None and kid is not None:
            fresher = issuer_keys.after_unknown_kid(cache, now)
            if fresher is not None:
                key = _match(fresher.keys, kid, alg)
        if key is not None:
            return key
        url = issuer_keys.issuer.url
        if kid is None:
            raise Unauthenticated(
                f"the token names no key (kid) and {url} does not publish exactly one {alg} key; get a new token"
            )
        raise Unauthenticated(
            f"the token is signed with key {_show(kid)}, which {url} does not publish for {alg}; "
            "if the issuer just rotated its keys try again in a minute, otherwise get a new token"
        )

    @staticmethod
    def _identity(claims: Mapping[str, Any], issuer: OidcIssuer, now: datetime) -> Identity:
        if claims.get("iss") != issuer.url:
            raise Unauthenticated(f"the token was not issued by {issuer.url}")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise Unauthenticated(f"the token names no audience (aud); get a token for audience {issuer.audience}")
        if issuer.audience not in audiences:
            shown = ", ".join(_show(a, 60) for a in audiences[:5]) or "none"
            raise Unauthenticated(
                f"the token is for audience {shown}, not {issuer.audience!r}; get a token for {issuer.audience!r}"
            )
        skew = issuer.clock_skew
        expires = _numeric_date(claims, "exp", required=True)
        if expires is not None and now >= expires + skew:
            raise Unauthenticated(f"the token expired at {_when(expires)}; get a new one (kubejit login)")
        not_before = _numeric_date(claims, "nbf", required=False)
        if not_before is not None and now + skew < not_before:
            raise Unauthenticated(
                f"the token is not valid before {_when(not_before)}; check the clock of the machine that got it"
            )
        issued = _numeric_date(claims, "iat", required=False)
        if issued is not None and now + skew < issued:
            raise Unauthenticated(
                f"the token claims to be issued at {_when(issued)}, in the future; check the clocks of this "
                "server and the identity provider"
            )
        user = claims.get(issuer.username_claim)
        if not isinstance(user, str) or not user.strip():
            raise Unauthenticated(
                f"the token has no user name in its '{issuer.username_claim}' claim; ask for a token that "
                "includes it (check the requested scopes)"
            )
        if issuer.username_claim == "email" and claims.get("email_verified", True) is not True:
            # kube-apiserver refuses such tokens too: an unverified address names nobody in particular
            raise Unauthenticated("the token's email address is not verified by the identity provider")
        return Identity(user, _groups(claims.get(issuer.groups_claim), issuer.groups_claim))


def _groups(value: object, claim: str) -> frozenset[str]:
    """Group names; a missing claim means no groups. A single string is one group, as kube-apiserver reads it."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value}) if value else frozenset()
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise Unauthenticated(f"the token's '{claim}' claim is not a list of group names; ask your IdP admin to fix it")
    return frozenset(group for group in value if group)


def _match(keys: Sequence[_PublicKey], kid: str | None, alg: str) -> _PublicKey | None:
    if kid is None:
        fitting = [key for key in keys if key.fits(alg)]
        return fitting[0] if len(fitting) == 1 else None
    return next((key for key in keys if key.kid == kid and key.fits(alg)), None)
