"""Signing a person in at an OpenID Connect provider: the client side of ``kubejit login``.

``kubejit.entrypoints.cli.login`` calls these with an issuer the broker offers (``GET /api/v1/login/options``):
:func:`discover` reads the provider's discovery document (its ``issuer`` must be the configured one), then
:func:`sign_in_with_browser` runs the authorization code flow with PKCE (S256), ``state`` and ``nonce`` on a
one-shot loopback redirect (RFC 8252), or :func:`sign_in_with_device` the device authorization grant (RFC 8628).
The broker's console runs the same code flow split over two browser requests (:func:`begin_web_sign_in`, then
:func:`finish_web_sign_in` at its redirect URI), and signs people out at the provider with :func:`web_sign_out`.
Both check the returned ID token (issuer, audience, nonce, expiry: the broker checks its signature) and answer a
:class:`SignIn`. :func:`revoke` hands a refresh token back at logout. The refresh itself lives in
``kubejit.login_sessions`` (the token plugin renews sessions with the standard library alone).

Behind this API: ``_provider`` (the issuer's settings, discovery, the HTTP client and error wording),
``_loopback`` (the one-shot redirect receiver), ``_code_flow``, ``_web_flow`` and ``_device_flow``.
"""

from kubejit.adapters.oidc_login._code_flow import BrowserOpener, sign_in_with_browser
from kubejit.adapters.oidc_login._device_flow import DeviceCode, sign_in_with_device
from kubejit.adapters.oidc_login._provider import LoginIssuer, Provider, SignIn, discover, revoke
from kubejit.adapters.oidc_login._web_flow import (
    WebSignIn,
    WebSignOut,
    begin_web_sign_in,
    finish_web_sign_in,
    web_sign_out,
)

__all__ = [
    "BrowserOpener",
    "DeviceCode",
    "LoginIssuer",
    "Provider",
    "SignIn",
    "WebSignIn",
    "WebSignOut",
    "begin_web_sign_in",
    "discover",
    "finish_web_sign_in",
    "revoke",
    "sign_in_with_browser",
    "sign_in_with_device",
    "web_sign_out",
]
