"""Identity providers: turn a bearer token into the :class:`~kubejit.domain.policy.Identity` policy talks about.

The broker's API and the gateway call a :class:`~kubejit.ports.TokenVerifier` on every request; the one here
validates OpenID Connect ID tokens against the issuer's published keys (DESIGN.md section 6).
``kubejit.bootstrap`` builds it from the configured issuers.

Behind this API: ``_issuer`` (an issuer's settings and the algorithm allow-list), ``_token`` (reading a compact
JWS and checking its signature), ``_key_cache`` and ``_jwks`` (discovery, the cached key set, picking a key),
``_claims`` (issuer, audience, times, user name and groups) and ``_verifier`` (the steps in order).
"""

from kubejit.adapters.idp._issuer import DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS, OidcIssuer
from kubejit.adapters.idp._verifier import OidcVerifier

__all__ = ["DEFAULT_ALGORITHMS", "SUPPORTED_ALGORITHMS", "OidcIssuer", "OidcVerifier"]
