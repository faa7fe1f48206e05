"""``kubejit login`` and ``kubejit logout``: signing in at the identity provider the broker trusts, and out.

``login`` asks the broker which issuers it offers (``GET /api/v1/login/options``, public), picks one
(``--issuer NAME`` when there are several), reads that issuer's discovery document and signs the person in with
the authorization code flow + PKCE on a loopback redirect, or the device flow with ``--device``
(``kubejit.adapters.oidc_login``). The broker is then asked who it sees behind the new ID token (whoami); only
then is the session stored (``kubejit.login_sessions``: 0600 file in a 0700 directory) and the broker
remembered as the current server, so later commands and ``kubejit token`` need no token in the environment. It
ends with what to do next for this person: the profiles they may request, and what waits for their review.

``logout`` removes the session(s), revokes the refresh token at the IdP when it has a revocation endpoint (best
effort: a warning when it cannot) and deletes the cached grant tokens obtained through the session.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated, Any

import typer

from kubejit import login_sessions
from kubejit.adapters.oidc_login import (
    BrowserOpener,
    DeviceCode,
    LoginIssuer,
    Provider,
    SignIn,
    discover,
    revoke,
    sign_in_with_browser,
    sign_in_with_device,
)
from kubejit.domain.errors import InvalidInput, KubejitError, NotFound
from kubejit.entrypoints.cli.broker_options import CaOption, ServerOption
from kubejit.entrypoints.cli.client import BrokerClient
from kubejit.entrypoints.cli.token_plugin import forget_cached

IssuerOption = Annotated[
    str | None,
    typer.Option("--issuer", envvar="KUBEJIT_ISSUER", help="Which issuer (its name), when the broker offers several."),
]


def login(
    server: ServerOption = None,
    ca: CaOption = None,
    issuer: IssuerOption = None,
    device: Annotated[
        bool, typer.Option("--device", help="Sign in with a code on another device (no browser here).")
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser: only print the URL to open.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Loopback port for the redirect (default: a random one).")
    ] = 0,
) -> None:
    """Sign in at the identity provider the broker trusts, and keep the session for every later command."""
    broker = BrokerClient.anonymous(server, ca)
    chosen = pick_issuer(login_options(broker), issuer, broker.server)
    provider = discover(chosen)
    if device:
        signed_in = sign_in_with_device(provider, show=_show_device_code)
    else:
        opener = None if no_browser else _browser()
        signed_in = sign_in_with_browser(provider, show=_show_url(opener is not None), open_browser=opener, port=port)
    signed = broker.with_token(signed_in.id_token)
    me = signed.call("GET", "/api/v1/whoami")
    _forget_previous(broker.server, chosen.issuer)
    login_sessions.save_session(os.environ, session_document(broker.server, provider, signed_in, str(me["user"])))
    groups = ", ".join(me.get("groups") or []) or "(none)"
    print(f"signed in to {broker.server} through {chosen.name} as {me['user']}\ngroups  {groups}")
    print(next_steps(*_what_awaits(signed)))


def _what_awaits(broker: BrokerClient) -> tuple[list[str] | None, int | None]:
    """The profiles this person may request and how many requests wait for their review (None: not known; the
    hint is only a hint, so a broker that cannot say does not fail the login)."""
    try:
        listed = broker.call("GET", "/api/v1/profiles")
        profiles = [str(p["name"]) for p in listed if p.get("requestable")]  # not the break-glass-only ones
        waiting = len(broker.call("GET", "/api/v1/requests", params={"reviewable": True}))
    except (KubejitError, KeyError, TypeError, AttributeError, ValueError):
        return None, None
    return profiles, waiting


def next_steps(profiles: list[str] | None, waiting: int | None) -> str:
    """What to do next, for this person: the profiles they may request, and what waits for their review."""
    if profiles is None:
        return _request_hint("PROFILE")
    lines = []
    if waiting:
        lines.append(
            f"{waiting} request{'s wait' if waiting > 1 else ' waits'} for your review: kubejit list --pending"
        )
    if profiles:
        shown = ", ".join(profiles[:5]) + (f" and {len(profiles) - 5} more" if len(profiles) > 5 else "")
        lines.append(f"you may request {shown} (kubejit profiles says what each allows)")
        lines.append(_request_hint(profiles[0]))
    elif not waiting:
        lines.append("the policy lets you request no profile yet: ask your kubejit admins to add you as a requester")
    return "\n".join(lines)


def _request_hint(profile: str) -> str:
    return (
        f"next: kubejit request {profile} -n NAMESPACE --for 1h --reason ...; then kubejit kubeconfig --grant ID "
        "(no KUBEJIT_TOKEN needed: commands use this session until kubejit logout)"
    )


def logout(
    server: ServerOption = None,
    issuer: IssuerOption = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every issuer's session (of --server if given, else of every broker).")
    ] = False,
) -> None:
    """Sign out: remove the stored session, revoke its refresh token and drop the grant tokens cached with it."""
    env = os.environ
    if every:
        sessions = login_sessions.sessions_for(env, server)
    else:
        where = server or login_sessions.current_server(env)
        if not where:
            raise InvalidInput("say which broker to sign out of: --server URL or KUBEJIT_SERVER")
        found = login_sessions.find_session(where, {**env, "KUBEJIT_ISSUER": issuer or env.get("KUBEJIT_ISSUER", "")})
        sessions = [found] if found else []
        if not sessions:
            print(f"you were not signed in to {login_sessions.normal_server(where)}")
    for session in sessions:
        _end(session)


def _end(session: login_sessions.Session) -> None:
    env = os.environ
    if session.revocationEndpoint and session.refreshToken:
        problem = revoke(
            session.revocationEndpoint,
            session.refreshToken,
            client_id=session.clientId,
            client_secret=session.clientSecret,
            ca_data=session.caData,
        )
        if problem:
            print(
                f"warning: the refresh token could not be revoked at {session.issuerName}: {problem}", file=sys.stderr
            )
    removed = forget_cached(env, session.owner)
    login_sessions.remove_session(session)
    if not login_sessions.sessions_for(env, session.server):
        login_sessions.forget_server(env, session.server)
    cached = f" and {removed} cached grant token{'s' if removed != 1 else ''}" if removed else ""
    print(f"signed out of {session.server} ({session.issuerName}, {session.user}): removed the session{cached}")


def login_options(broker: BrokerClient) -> list[dict[str, Any]]:
    """The broker's ``issuers`` for kubejit login."""
    try:
        options = broker.call("GET", "/api/v1/login/options")
    except NotFound:
        raise NotFound(
            f"the broker at {broker.server} does not offer kubejit login (no /api/v1/login/options): "
            "upgrade it, or set KUBEJIT_TOKEN to an ID token"
        ) from None
    issuers = options.get("issuers") if isinstance(options, dict) else None
    if not isinstance(issuers, list) or not all(isinstance(i, dict) for i in issuers):
        raise InvalidInput(f"the broker at {broker.server} answered the login options in an unknown shape")
    return issuers


def pick_issuer(issuers: list[dict[str, Any]], wanted: str | None, server: str) -> LoginIssuer:
    """The issuer to sign in at: the one named (by name or URL), or the only one offered."""
    if not issuers:
        raise InvalidInput(
            f"the broker at {server} offers no issuer for kubejit login (none of its oidc entries has login "
            "settings): ask its operator, or set KUBEJIT_TOKEN to an ID token"
        )
    names = ", ".join(str(i.get("name")) for i in issuers)
    if wanted:
        matching = [i for i in issuers if wanted in (i.get("name"), i.get("issuer"))]
        if not matching:
            raise InvalidInput(f"the broker at {server} offers no issuer named {wanted!r}: choose one of {names}")
        chosen = matching[0]
    elif len(issuers) > 1:
        raise InvalidInput(f"the broker at {server} offers several issuers: choose one with --issuer NAME ({names})")
    else:
        chosen = issuers[0]
    try:
        return LoginIssuer(
            name=str(chosen["name"]),
            issuer=str(chosen["issuer"]),
            client_id=str(chosen["clientId"]),
            scopes=tuple(str(s) for s in chosen.get("scopes") or ("openid",)),
            client_secret=chosen.get("clientSecret") or None,
            ca_data=chosen.get("certificateAuthorityData") or None,
        )
    except KeyError as missing:
        raise InvalidInput(f"the broker's login options lack {missing} for the issuer {chosen.get('name')}") from None


def session_document(server: str, provider: Provider, signed_in: SignIn, user: str) -> dict[str, Any]:
    """What ``login_sessions`` stores for this sign-in (its file format)."""
    issuer = provider.issuer
    return {
        "server": server,
        "issuer": issuer.issuer,
        "issuerName": issuer.name,
        "clientId": issuer.client_id,
        "clientSecret": issuer.client_secret,
        "tokenEndpoint": provider.token_endpoint,
        "revocationEndpoint": provider.revocation_endpoint,
        "caData": issuer.ca_data,
        "idToken": signed_in.id_token,
        "idTokenExpiresAt": signed_in.expires_at,
        "refreshToken": signed_in.refresh_token,
        "user": user,
        "loggedInAt": int(time.time()),
    }


def _forget_previous(server: str, issuer: str) -> None:
    """A new login replaces the session of the same (server, issuer): its cached grant tokens go with it."""
    previous = login_sessions.load_session(login_sessions.session_path(os.environ, server, issuer))
    if previous is not None:
        forget_cached(os.environ, previous.owner)


def _browser() -> BrowserOpener | None:
    """``webbrowser.open`` when this machine has a browser to open; None otherwise.

    The browser is started on a thread of its own: ``webbrowser`` waits for a ``$BROWSER`` command to exit, and
    the sign-in must not wait for the browser to close before it answers the browser's redirect."""
    import threading
    import webbrowser

    try:
        webbrowser.get()
    except webbrowser.Error:
        return None

    def open_in_background(url: str) -> bool:
        threading.Thread(target=webbrowser.open, args=(url,), kwargs={"new": 1}, daemon=True).start()
        return True

    return open_in_background


def _show_url(opening: bool) -> Any:
    def show(url: str) -> None:
        doing = "Opening your browser to sign in; if it does not open, visit" if opening else "To sign in, open"
        print(f"{doing}:\n\n  {url}\n\nWaiting for the sign-in to finish...", file=sys.stderr, flush=True)

    return show


def _show_device_code(device: DeviceCode) -> None:
    complete = f"\n(or open {device.verification_uri_complete} directly)" if device.verification_uri_complete else ""
    minutes = max(1, device.expires_in // 60)
    print(
        f"To sign in, open {device.verification_uri} on any device and enter the code\n\n  {device.user_code}\n"
        f"{complete}\nThe code works for {minutes} minute{'s' if minutes != 1 else ''}. Waiting...",
        file=sys.stderr,
        flush=True,
    )


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
