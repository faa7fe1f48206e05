"""What kubejit trusts an OpenID Connect issuer for: its URL (and where its discovery document is), audience,
claims and the prefixes put before its names, clock skew and algorithms.

Why it exists: the configuration of an issuer is checked once, when it is made (``kubejit.bootstrap`` builds one
:class:`OidcIssuer` per configured issuer, as kube-apiserver's AuthenticationConfiguration names it), so the
verifier's hot path never meets a half-valid setting. The algorithm tables here are the allow-list the token
reader and the key set consult; the two transport rules (which URLs may be fetched, which CA is trusted) come from
``kubejit.transport``, worded for an issuer by :func:`fetch_url_problem` and :meth:`OidcIssuer.ssl_context`.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final
from urllib.parse import urlsplit

from kubejit.domain.errors import InvalidInput
from kubejit.domain.identity_names import identity_prefix_problem, quoted
from kubejit.transport import NOT_AN_HTTP_URL, TrustError, trust_context, url_problem

# alg -> (JWK key type, curve or None). HS* and "none" are deliberately absent; so is "EdDSA", which RFC 9864
# deprecates in favour of the fully specified "Ed25519" / "Ed448".
KEY_FOR_ALGORITHM: Final[Mapping[str, tuple[str, str | None]]] = {
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
SUPPORTED_ALGORITHMS: Final[frozenset[str]] = frozenset(KEY_FOR_ALGORITHM)
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

_MAX_CLOCK_SKEW = timedelta(minutes=5)


def fetch_url_problem(url: str) -> str | None:
    """Why ``url`` may not be fetched for keys, or None: HTTPS, or plain HTTP to loopback only (for tests)."""
    problem = url_problem(url)
    if problem is None:
        return None
    if problem == NOT_AN_HTTP_URL and not urlsplit(url).netloc:
        return f"{url!r} is not an absolute URL"
    return f"{url!r} must use https (plain http is allowed only on loopback, for tests)"


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
    # kube-apiserver's claimMappings.username.prefix / groups.prefix: the names kubejit (and the policy) use are
    # the prefixed ones, exactly as the cluster sees them.
    username_prefix: str = ""
    groups_prefix: str = ""
    policy_claims: tuple[str, ...] = ()  # claims kept on the Identity for policy rules ('/' reaches into objects)
    discovery_url: str | None = None  # default: {url}/.well-known/openid-configuration

    def __post_init__(self) -> None:
        self._check_urls()
        for prefix in (self.username_prefix, self.groups_prefix):
            prefix_problem = identity_prefix_problem(prefix)
            if prefix_problem is not None:
                raise InvalidInput(f"OIDC issuer {self.url}: the prefix {quoted(prefix)} {prefix_problem}")
        self._check_settings()

    def _check_urls(self) -> None:
        problem = fetch_url_problem(self.url)
        if problem is not None:
            raise InvalidInput(f"OIDC issuer URL {problem}")
        if urlsplit(self.url).query or urlsplit(self.url).fragment:
            raise InvalidInput(f"OIDC issuer URL {self.url!r} must not have a query or fragment")
        discovery_problem = fetch_url_problem(self.discovery_document_url)
        if discovery_problem is not None:
            raise InvalidInput(f"OIDC issuer {self.url}: the discovery URL {discovery_problem}")

    def _check_settings(self) -> None:
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

    @property
    def discovery_document_url(self) -> str:
        """Where the discovery document is fetched; its ``issuer`` must still be :attr:`url`."""
        return self.discovery_url or self.url.rstrip("/") + "/.well-known/openid-configuration"

    def ssl_context(self) -> ssl.SSLContext:
        """TLS trust for this issuer: only ``ca_pem`` when given, the system's roots otherwise."""
        try:
            return trust_context(cadata=self.ca_pem)
        except TrustError as error:
            raise InvalidInput(f"OIDC issuer {self.url}: ca_pem: {error}") from error
