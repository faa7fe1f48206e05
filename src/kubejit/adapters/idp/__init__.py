"""Identity providers: turn a bearer token into the :class:`~kubejit.domain.policy.Identity` policy talks about.

The broker's API and the gateway call a :class:`~kubejit.ports.TokenVerifier` on every request; the one here
validates OpenID Connect ID tokens against the issuer's published keys (DESIGN.md section 6).
"""

from kubejit.adapters.idp.oidc import DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS, OidcIssuer, OidcVerifier

__all__ = ["DEFAULT_ALGORITHMS", "SUPPORTED_ALGORITHMS", "OidcIssuer", "OidcVerifier"]
