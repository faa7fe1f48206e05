"""The authorization code flow with PKCE on a loopback redirect: ``kubejit login`` on a machine with a browser.

Fresh per sign-in: a PKCE code verifier (S256 challenge, RFC 7636), a ``state`` (the redirect must carry it
back) and a ``nonce`` (the ID token must echo it). The URL is always shown (``show``), and handed to a browser
opener when there is one; the loopback receiver takes the redirect, Authlib's client exchanges the code (with
the verifier) and ``finish`` checks the ID token. An ``iss`` in the redirect (RFC 9207) must be the issuer's.
"""

from __future__ import annotations

from collections.abc import Callable

from authlib.common.security import generate_token

from kubejit.adapters.oidc_login._loopback import LoopbackReceiver
from kubejit.adapters.oidc_login._provider import Provider, SignIn, code_from, finish, idp_call
from kubejit.domain.errors import Unavailable

BrowserOpener = Callable[[str], bool]  # webbrowser.open's shape: True when a browser took the URL
DEFAULT_TIMEOUT_SECONDS = 300.0


def sign_in_with_browser(
    provider: Provider,
    *,
    show: Callable[[str], None],
    open_browser: BrowserOpener | None = None,
    port: int = 0,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> SignIn:
    """Sign in through the provider's login page; ``show`` gets the URL to open, ``open_browser`` (if any) too."""
    if provider.authorization_endpoint is None:
        raise Unavailable(
            f"{provider.issuer.name} names no authorization_endpoint in its discovery document: "
            "try kubejit login --device"
        )
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with LoopbackReceiver(state, port) as receiver, provider.client(redirect_uri=receiver.redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
        )
        show(url)
        if open_browser is not None:
            open_browser(url)
        answer = receiver.wait(timeout)
        code = code_from(provider, answer, again="run kubejit login again")
        with idp_call(provider.issuer, "exchange the code for tokens"):
            tokens = client.fetch_token(
                provider.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                redirect_uri=receiver.redirect_uri,
            )
    return finish(provider, dict(tokens), nonce=nonce)
