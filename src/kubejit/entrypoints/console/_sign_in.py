"""Signing in and out of the console: ``/console/login`` -> the identity provider -> ``/console/callback``.

The sign-in is the authorization code flow with PKCE (``kubejit.adapters.oidc_login.begin_web_sign_in``) at the
issuer the broker config offers for login (``oidc[].login``: the same client as ``kubejit login``; its redirect
URI ``{publicUrl}/console/callback`` must be registered at the provider). The secrets of a sign-in under way live
in an encrypted cookie scoped to the callback path for 10 minutes; the callback checks them, has the ID token
verified by the broker's own verifier (the identity the API would see) and starts a session that ends with the
token. Logout is a POST (CSRF-checked) that drops the session cookie and, when the provider offers RP-initiated
logout (``end_session_endpoint``), answers with the provider's sign-out form, which the page's script sends at once
(a button without scripts). The provider ends its own session and sends the browser to ``/console/signed-out``
(register ``{publicUrl}/console/signed-out`` as a post-logout redirect URI), so the next sign-in asks for the
password again.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response

from kubejit.adapters.oidc_login import (
    LoginIssuer,
    Provider,
    WebSignOut,
    begin_web_sign_in,
    discover,
    finish_web_sign_in,
    web_sign_out,
)
from kubejit.config import OidcIssuerConfig
from kubejit.domain.errors import KubejitError
from kubejit.entrypoints.console._cookies import PendingSignIn, Session
from kubejit.entrypoints.console._web import (
    PREFIX,
    Console,
    ConsoleProblem,
    ConsoleRoute,
    Posted,
    SignInNeeded,
    back_path,
    broker_of,
    console_of,
    content_security_policy,
    render,
    see_other,
    signed_in,
)

log = logging.getLogger("kubejit.console")
router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
_SIGN_IN_COOKIE = "kubejit-console-sign-in"
_CALLBACK = f"{PREFIX}/callback"
_SIGNED_OUT = f"{PREFIX}/signed-out"
_SIGN_IN_SECONDS = 600


def _provider(console: Console) -> Provider:
    issuer = console.issuer
    if issuer is None or issuer.login is None:
        raise ConsoleProblem(
            503,
            "No way to sign in",
            "no oidc issuer of the broker config has login settings (oidc[].login.clientId): add them",
        )
    return discover(_login_issuer(issuer))


def _login_issuer(issuer: OidcIssuerConfig) -> LoginIssuer:
    login = issuer.login
    if login is None:
        raise ConsoleProblem(503, "No way to sign in", f"issuer {issuer.name} has no login settings")
    ca_data = base64.b64encode(issuer.ca_file.read_bytes()).decode() if issuer.ca_file else None
    scopes = tuple(s for s in login.scopes if s != "offline_access")  # the console keeps no refresh token
    return LoginIssuer(issuer.name, issuer.issuer, login.client_id, scopes, login.client_secret, ca_data)


@router.get("/")
def start(request: Request) -> Response:
    """The console's front page: your requests when signed in, else a sign-in link."""
    try:
        signed_in(request)
    except SignInNeeded:
        return render("signed_out.html", None, title="Sign in")
    return see_other(f"{PREFIX}/requests")


@router.get("/login")
def login(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """Send the browser to the identity provider's login page, remembering the sign-in's secrets."""
    console = console_of(request)
    public = urlsplit(console.url)
    if request.url.netloc != public.netloc:  # the cookies must be set on the host the provider returns to
        return see_other(f"{public.scheme}://{public.netloc}{request.url.path}?{request.url.query}")
    redirect_uri = console.url.removesuffix(PREFIX) + _CALLBACK
    begun = begin_web_sign_in(_provider(console), redirect_uri)
    now = int(broker_of(request).clock.now().timestamp())
    pending = PendingSignIn(begun.state, begun.nonce, begun.code_verifier, back_path(next), now + _SIGN_IN_SECONDS)
    response = see_other(begun.url)
    console.set_cookie(
        response, _SIGN_IN_COOKIE, console.cookies.seal_sign_in(pending), max_age=_SIGN_IN_SECONDS, path=_CALLBACK
    )
    return response


@router.get("/callback")
def callback(request: Request) -> Response:
    """The provider's redirect: check it, verify the ID token, start the session, go back to the page."""
    console, broker = console_of(request), broker_of(request)
    now = broker.clock.now().timestamp()
    pending = console.cookies.open_sign_in(request.cookies.get(_SIGN_IN_COOKIE), now)
    if pending is None:
        raise ConsoleProblem(
            400, "Sign-in expired", "this browser has no sign-in under way (it took too long?): sign in again"
        )
    redirect_uri = console.url.removesuffix(PREFIX) + _CALLBACK
    answer = dict(request.query_params)
    done = finish_web_sign_in(
        _provider(console),
        answer,
        redirect_uri,
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
    )
    broker.verifier.verify(done.id_token)  # the broker's own check (signature, audience, claims): or 401
    session = Session.new(done.id_token, done.expires_at)
    response = see_other(pending.back_to)
    console.set_cookie(
        response, console.session_cookie, console.cookies.seal_session(session), max_age=int(done.expires_at - now)
    )
    response.delete_cookie(_SIGN_IN_COOKIE, path=_CALLBACK, secure=console.secure, httponly=True, samesite="lax")
    return response


@router.post("/logout")
def logout(posted: Posted) -> Response:
    """Drop the session cookie, and hand the browser the provider's sign-out form when it has one."""
    console = posted.visitor.console
    provider_sign_out, trouble = _provider_sign_out(console, posted.visitor.session.id_token)
    response = render(
        "signed_out.html",
        None,
        title="Signed out",
        signed_out=True,
        provider_sign_out=provider_sign_out,
        issuer_name=console.issuer.name if console.issuer else "",
        trouble=trouble,
    )
    if provider_sign_out is not None:
        response.headers["Content-Security-Policy"] = content_security_policy(provider_sign_out.origin)
    response.delete_cookie(console.session_cookie, path="/", secure=console.secure, httponly=True, samesite="lax")
    return response


@router.get("/signed-out")
def signed_out(request: Request) -> Response:
    """Where the provider sends the browser back once its own session has ended (someone still signed in is
    sent to the front page instead: they are not signed out)."""
    try:
        signed_in(request)
    except SignInNeeded:
        return render("signed_out.html", None, title="Signed out", signed_out=True, at_provider=True)
    return see_other(f"{PREFIX}/")


def _provider_sign_out(console: Console, id_token: str) -> tuple[WebSignOut | None, str]:
    """The provider's sign-out form for this session, or None and why not (empty: the provider has none)."""
    redirect_uri = console.url.removesuffix(PREFIX) + _SIGNED_OUT
    try:
        return web_sign_out(_provider(console), id_token=id_token, post_logout_redirect_uri=redirect_uri), ""
    except (ConsoleProblem, KubejitError) as error:  # the console's session is dropped all the same
        return None, str(error)
    except Exception:  # whatever else fails (the issuer's CA file unreadable...), the sign-out must not
        log.exception("could not prepare the identity provider's sign-out")
        return None, "the broker could not prepare it: its log says why"
