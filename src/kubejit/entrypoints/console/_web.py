"""What every console page shares: the console's settings, who is signed in, CSRF-checked forms, rendering, errors.

Every page module (``_sign_in``, ``_request_page``, ``_my_requests``, ``_inbox``) declares routes on an
``APIRouter(route_class=ConsoleRoute)`` and takes ``visitor: Visitor`` (a GET for a signed-in person) or
``posted: Posted`` (a POST: signed in, and the form's CSRF token is the session's, else 403). Nothing here
decides what a person may do: the pages call the broker's access service with the verified identity, as the API
does, and show what it refuses.

:class:`ConsoleRoute` turns kubejit's errors into an HTML page with the error table's status
(``kubejit.domain.errors.meaning_of``), a missing or ended session into a redirect to the sign-in (or a 403 for a
POST), and puts the security headers (CSP without inline scripts, no framing, no caching, no referrer to other
sites) on every answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.config import OidcIssuerConfig
from kubejit.domain.durations import format_duration
from kubejit.domain.errors import KubejitError, Unauthenticated, meaning_of
from kubejit.domain.policy import Identity
from kubejit.entrypoints.console._cookies import CookieBox, Session, console_key

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

PREFIX = "/console"
_TEMPLATES = Path(__file__).parent / "templates"
_MAX_FORM_BYTES = 64 * 1024


def content_security_policy(*form_targets: str) -> str:
    """The console's Content-Security-Policy; forms may go to the console itself and to ``form_targets`` (origins:
    the signed-out page's form to the identity provider)."""
    form_action = " ".join(("'self'", *form_targets))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )


SECURITY_HEADERS = {
    "Content-Security-Policy": content_security_policy(),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make browsers send "Origin: null" with forms
    "Cache-Control": "no-store",
}


class ConsoleProblem(Exception):
    """A page that explains what went wrong (status, title, what to do)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class SignInNeeded(Exception):
    """Nobody is signed in (or the session's ID token ended)."""


@dataclass(frozen=True)
class Console:
    """The console of one broker: its public address, its cookies and the issuer people sign in at."""

    url: str  # {publicUrl}/console
    cookies: CookieBox
    issuer: OidcIssuerConfig | None

    @property
    def secure(self) -> bool:
        """Cookies are Secure unless the console is served over plain HTTP (only allowed on loopback)."""
        return self.url.startswith("https://")

    @property
    def session_cookie(self) -> str:
        # __Host-: the browser keeps it only if Secure, Path=/ and without Domain (no subdomain may set it)
        return "__Host-kubejit-console" if self.secure else "kubejit-console"

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int, path: str = "/") -> None:
        response.set_cookie(
            name, value, max_age=max(max_age, 0), path=path, secure=self.secure, httponly=True, samesite="lax"
        )


def build_console(broker: Broker) -> Console:
    """The console for ``broker``'s config (ConsoleProblem 404 when it is off or has no public URL)."""
    config = broker.config
    url = config.console_url
    if url is None:
        raise ConsoleProblem(
            404,
            "The console is not set up",
            "set console.publicUrl in the broker config (the URL browsers reach the broker at) to serve it",
        )
    with_login = [i for i in config.oidc if i.login is not None]
    wanted = config.console.issuer
    issuer = next((i for i in with_login if i.name == wanted), None) if wanted else next(iter(with_login), None)
    return Console(url, CookieBox(console_key(load_or_create_seal_key(config.seal_key_file))), issuer)


def broker_of(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


def console_of(request: Request) -> Console:
    """The app's console, built on first use."""
    console: Console | None = getattr(request.app.state, "console", None)
    if console is None:
        console = build_console(broker_of(request))
        request.app.state.console = console
    return console


@dataclass(frozen=True)
class SignedIn:
    """The signed-in person: the identity in their verified ID token, their session, and the broker."""

    who: Identity
    session: Session
    console: Console
    broker: Broker


def signed_in(request: Request) -> SignedIn:
    """The person whose session cookie this request carries, their ID token verified now (SignInNeeded if none)."""
    console, broker = console_of(request), broker_of(request)
    session = console.cookies.open_session(request.cookies.get(console.session_cookie), broker.clock.now().timestamp())
    if session is None:
        raise SignInNeeded
    try:
        who = broker.verifier.verify(session.id_token)
    except Unauthenticated:
        raise SignInNeeded from None
    return SignedIn(who, session, console, broker)


Visitor = Annotated[SignedIn, Depends(signed_in)]


@dataclass(frozen=True)
class Form:
    """A POSTed form of a signed-in person, its CSRF token checked."""

    visitor: SignedIn
    fields: Mapping[str, str]
    lists: Mapping[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default).strip()


async def posted(request: Request, visitor: Visitor) -> Form:
    """The form in this POST, refused (403) unless it carries this session's CSRF token and, when the browser
    names the page's origin, comes from the console's own origin."""
    origin = request.headers.get("origin")
    console = visitor.console
    if origin is not None and origin != _origin(console.url):
        raise ConsoleProblem(403, "Refused", f"this form was sent from {origin[:100]}, not from the console")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise ConsoleProblem(403, "Refused", "the console takes forms only (application/x-www-form-urlencoded)")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ConsoleProblem(413, "Too large", "the form is too large")
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    lists: dict[str, list[str]] = {}
    for name, value in pairs:
        lists.setdefault(name, []).append(value)
    fields = {name: values[0] for name, values in lists.items()}
    if not hmac.compare_digest(fields.get("csrf", ""), visitor.session.csrf):
        raise ConsoleProblem(403, "Refused", "the form's security token is missing or stale: reload the page")
    return Form(visitor, fields, lists)


Posted = Annotated[Form, Depends(posted)]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@cache
def templates() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"
    environment.filters["span"] = format_duration
    return environment


def render(template: str, visitor: SignedIn | None, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` for ``visitor`` (None: signed out), with the navigation and CSRF token."""
    page = (
        templates()
        .get_template(template)
        .render(
            prefix=PREFIX,
            me=visitor.who if visitor else None,
            csrf=visitor.session.csrf if visitor else "",
            reader=visitor.broker.audit.may_read_all(visitor.who) if visitor else False,  # the Audit link
            **context,
        )
    )
    return HTMLResponse(page, status_code=status)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def back_path(wanted: str | None) -> str:
    """``wanted`` if it is a console page of this broker (never another site: no open redirect), else the start."""
    if not wanted or not wanted.startswith(f"{PREFIX}/") or wanted.startswith("//") or "\\" in wanted:
        return f"{PREFIX}/"
    parts = urlsplit(wanted)
    if parts.scheme or parts.netloc:
        return f"{PREFIX}/"
    return wanted


class ConsoleRoute(APIRoute):
    """A console route: errors become pages, a missing session a trip to the sign-in, and every answer carries the
    security headers (those a handler did not set itself)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handle(request)
            except SignInNeeded:
                response = _sign_in_needed(request)
            except ConsoleProblem as problem:
                response = problem_page(problem)
            except KubejitError as error:
                response = problem_page(ConsoleProblem(meaning_of(error).http_status, "Not done", str(error)))
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)  # a page may widen its own policy (the sign-out form)
            return response

        return console_handler


def problem_page(problem: ConsoleProblem) -> Response:
    return render("problem.html", None, status=problem.status, title=problem.title, problem=problem)


def _sign_in_needed(request: Request) -> Response:
    if request.method == "GET":
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return see_other(f"{PREFIX}/login?next={quote(wanted, safe='')}")
    return problem_page(
        ConsoleProblem(403, "Sign in first", "you are not signed in (or your session ended): sign in again")
    )
