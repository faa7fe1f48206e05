"""Signing a person in at an OpenID Connect provider: the client side of ``kubejit login``.

``kubejit.entrypoints.cli.login`` calls these with an issuer the broker offers (``GET /api/v1/login/options``):
:func:`discover` reads the provider's discovery document (its ``issuer`` must be the configured one), then
:func:`sign_in_with_browser` runs the authorization code flow with PKCE (S256), ``state`` and ``nonce`` on a
one-shot loopback redirect (RFC 8252), or :func:`sign_in_with_device` the device authorization grant (RFC 8628).
Both check the returned ID token (issuer, audience, nonce, expiry: the broker checks its signature) and answer a
:class:`SignIn`. :func:`revoke` hands a refresh token back at logout. The refresh itself lives in
``kubejit.login_sessions`` (the token plugin renews sessions with the standard library alone).

Behind this API: ``_provider`` (the issuer's settings, discovery, the HTTP client and error wording),
``_loopback`` (the one-shot redirect receiver), ``_code_flow`` and ``_device_flow``.
"""

from kubejit.adapters.oidc_login._code_flow import BrowserOpener, sign_in_with_browser
from kubejit.adapters.oidc_login._device_flow import DeviceCode, sign_in_with_device
from kubejit.adapters.oidc_login._provider import LoginIssuer, Provider, SignIn, discover, revoke

__all__ = [
    "BrowserOpener",
    "DeviceCode",
    "LoginIssuer",
    "Provider",
    "SignIn",
    "discover",
    "revoke",
    "sign_in_with_browser",
    "sign_in_with_device",
]
