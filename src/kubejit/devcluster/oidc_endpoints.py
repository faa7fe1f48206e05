"""The dev OIDC issuer's endpoints: /authorize, /token, /device/code, /device and /revoke, as answers.

:class:`~kubejit.devcluster.oidc.DevOIDCIssuer`'s HTTP handler turns each request into a :class:`Request`
(its parameters, the Authorization header) and sends back the :class:`Answer` a route returns; nothing here
touches a socket, so a route is a function of its request, the sign-in state and the clock. The requests
are checked by :mod:`kubejit.devcluster.oidc_requests`, the state kept by :mod:`kubejit.devcluster.oidc_flows`,
the pages drawn by :mod:`kubejit.devcluster.oidc_pages`. Errors are RFC 6749 5.2 JSON at the token, device
authorization and revocation endpoints, a redirect back to the client for a bad request from a trusted client
and redirect URI, and a page (never a redirect) when the client or redirect URI is not trusted.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubejit.devcluster import oidc_pages
from kubejit.devcluster.oidc_flows import DevFlows, SignIn, UserCodeError, shown_user_code
from kubejit.devcluster.oidc_requests import (
    OAuthError,
    PageError,
    Params,
    RedirectedError,
    client_id_of,
    login_request,
    single_values,
    with_query,
)
from kubejit.devcluster.users import DevUser

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("authorization_code", "refresh_token", DEVICE_CODE_GRANT)
IdTokenSigner = Callable[[SignIn, float, int], str]  # (sign-in, now, ttl) -> a signed ID token


@dataclass(frozen=True)
class Request:
    """What a route reads: the query (GET) or form (POST) parameters in order, and the Authorization header."""

    params: tuple[tuple[str, str], ...] = ()
    authorization: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the HTTP handler sends: status, content type, body and, for a redirect, its Location."""

    status: int
    content_type: str
    body: bytes
    location: str | None = None

    @classmethod
    def json(cls, status: int, document: Mapping[str, Any]) -> Answer:
        return cls(status, "application/json", json.dumps(document).encode())

    @classmethod
    def page(cls, status: int, html: str) -> Answer:
        return cls(status, "text/html; charset=utf-8", html.encode())

    @classmethod
    def redirect(cls, status: int, location: str) -> Answer:
        return cls(status, "text/plain; charset=utf-8", b"", location)

    @classmethod
    def oauth_error(cls, refused: OAuthError) -> Answer:
        return cls.json(refused.status, refused.as_json())

    @classmethod
    def problem_page(cls, problem: PageError) -> Answer:
        return cls.page(problem.status, oidc_pages.message_page(problem.title, problem.message))


def _chosen_user(params: Params) -> str | None:
    """The dev user whose button was pressed, or None for Deny."""
    if "deny" in params:
        return None
    user = params.get("user")
    if not user:
        raise PageError("Nobody picked", "press the button of a dev user, or Deny")
    return user


class DevEndpoints:
    """The routes of the dev issuer's sign-in flows, keyed by (method, path)."""

    def __init__(
        self,
        *,
        issuer_url: str,
        pages_url: str | None = None,
        flows: DevFlows,
        users: Sequence[DevUser],
        sign_id_token: IdTokenSigner,
        clock: Callable[[], float],
    ) -> None:
        self._url = issuer_url
        self._pages_url = pages_url or issuer_url  # where a person's browser opens the login and device pages
        self._flows = flows
        self._users = tuple(users)
        self._sign = sign_id_token
        self._clock = clock
        self._grants: dict[str, Callable[[Params, str, float], dict[str, Any]]] = {
            "authorization_code": self._authorization_code_grant,
            "refresh_token": self._refresh_token_grant,
            DEVICE_CODE_GRANT: self._device_code_grant,
        }

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Answer]]:
        return {
            **self.page_routes(),
            ("POST", "/token"): self.token,
            ("POST", "/device/code"): self.device_authorization,
            ("POST", "/revoke"): self.revoke,
        }

    def page_routes(self) -> dict[tuple[str, str], Callable[[Request], Answer]]:
        """The pages a person opens in a browser (and their forms), nothing that hands out tokens."""
        return {
            ("GET", "/authorize"): self.authorize_page,
            ("POST", "/authorize"): self.authorize_decision,
            ("GET", "/device"): self.device_page,
            ("POST", "/device"): self.device_decision,
        }

    # ---- authorization code flow: the login page and its answer ------------------------------------------

    def authorize_page(self, request: Request) -> Answer:
        try:
            login = login_request(single_values(request.params))
        except RedirectedError as refused:
            return self._redirect_error(302, refused.redirect_uri, refused.error, refused.description, refused.state)
        except OAuthError as refused:  # a duplicated or overlong parameter: nothing is trusted yet
            return Answer.problem_page(PageError("Bad sign-in request", refused.description))
        except PageError as problem:
            return Answer.problem_page(problem)
        transaction = self._flows.open_page(login, now=self._clock())
        return Answer.page(200, oidc_pages.login_page(transaction=transaction, request=login, users=self._users))

    def authorize_decision(self, request: Request) -> Answer:
        try:
            params = single_values(request.params)
            login, code = self._flows.finish_login(
                params.get("transaction", ""), _chosen_user(params), now=self._clock()
            )
        except OAuthError as refused:
            return Answer.problem_page(PageError("Bad sign-in answer", refused.description))
        except PageError as problem:
            return Answer.problem_page(problem)
        if code is None:
            return self._redirect_error(303, login.redirect_uri, "access_denied", "the sign-in was denied", login.state)
        return Answer.redirect(
            303, with_query(login.redirect_uri, {"code": code, "state": login.state, "iss": self._url})
        )

    def _redirect_error(
        self, status: int, redirect_uri: str, error: str, description: str, state: str | None
    ) -> Answer:
        params = {"error": error, "error_description": description, "state": state, "iss": self._url}
        return Answer.redirect(status, with_query(redirect_uri, params))

    # ---- the token endpoint ------------------------------------------------------------------------------

    def token(self, request: Request) -> Answer:
        try:
            params = single_values(request.params)
            client_id = client_id_of(params, request.authorization)
            grant = self._grants.get(params.get("grant_type", ""))
            if grant is None:
                supported = ", ".join(GRANT_TYPES)
                raise OAuthError("unsupported_grant_type", f"grant_type must be one of {supported}")
            return Answer.json(200, grant(params, client_id, self._clock()))
        except OAuthError as refused:
            return Answer.oauth_error(refused)

    def _authorization_code_grant(self, params: Params, client_id: str, now: float) -> dict[str, Any]:
        sign_in = self._flows.redeem_code(
            _required(params, "code"),
            client_id=client_id,
            redirect_uri=params.get("redirect_uri"),
            code_verifier=params.get("code_verifier"),
            now=now,
        )
        return self._tokens(sign_in, self._flows.issue_refresh_token(sign_in), now)

    def _refresh_token_grant(self, params: Params, client_id: str, now: float) -> dict[str, Any]:
        sign_in, refresh_token = self._flows.rotate_refresh_token(
            _required(params, "refresh_token"), client_id=client_id, now=now
        )
        return self._tokens(sign_in, refresh_token, now)

    def _device_code_grant(self, params: Params, client_id: str, now: float) -> dict[str, Any]:
        sign_in = self._flows.poll_device(_required(params, "device_code"), client_id=client_id, now=now)
        return self._tokens(sign_in, self._flows.issue_refresh_token(sign_in), now)

    def _tokens(self, sign_in: SignIn, refresh_token: str, now: float) -> dict[str, Any]:
        ttl = self._flows.lifetimes.id_token_ttl
        return {
            "access_token": secrets.token_urlsafe(32),  # opaque: the dev issuer has no userinfo endpoint
            "token_type": "Bearer",
            "expires_in": ttl,
            "id_token": self._sign(sign_in, now, ttl),
            "refresh_token": refresh_token,
            "refresh_expires_in": max(0, int(sign_in.session_ends_at - now)),
            "scope": " ".join(sign_in.scope),
        }

    # ---- the device authorization grant ------------------------------------------------------------------

    def device_authorization(self, request: Request) -> Answer:
        try:
            params = single_values(request.params)
            client_id = client_id_of(params, request.authorization)
            scope = tuple(params.get("scope", "openid").split())
            if "openid" not in scope:
                raise OAuthError("invalid_scope", "the scope must include 'openid'")
        except OAuthError as refused:
            return Answer.oauth_error(refused)
        started = self._flows.start_device(client_id, scope, now=self._clock())
        user_code = shown_user_code(started.user_code)
        return Answer.json(
            200,
            {
                "device_code": started.device_code,
                "user_code": user_code,
                "verification_uri": f"{self._pages_url}/device",
                "verification_uri_complete": with_query(f"{self._pages_url}/device", {"user_code": user_code}),
                "expires_in": started.expires_in,
                "interval": started.interval,
            },
        )

    def device_page(self, request: Request, *, problem: str | None = None, status: int = 200) -> Answer:
        try:
            user_code = single_values(request.params).get("user_code", "")
        except OAuthError as refused:
            return Answer.problem_page(PageError("Bad device page request", refused.description))
        transaction = self._flows.open_page(None, now=self._clock())
        html = oidc_pages.device_page(transaction=transaction, users=self._users, user_code=user_code, problem=problem)
        return Answer.page(status, html)

    def device_decision(self, request: Request) -> Answer:
        try:
            params = single_values(request.params)
            user = self._flows.decide_device(
                params.get("transaction", ""), params.get("user_code", ""), _chosen_user(params), now=self._clock()
            )
        except OAuthError as refused:
            return Answer.problem_page(PageError("Bad device sign-in answer", refused.description))
        except UserCodeError as problem:  # let the person correct the code
            retry = Request((("user_code", params.get("user_code", "")),))
            return self.device_page(retry, problem=problem.message, status=problem.status)
        except PageError as problem:
            return Answer.problem_page(problem)
        if user is None:
            return Answer.page(200, oidc_pages.message_page("Sign-in denied", "The device was not signed in."))
        message = f"The device is signed in as {user.name}. You can close this page and go back to your terminal."
        return Answer.page(200, oidc_pages.message_page("Device signed in", message))

    # ---- revocation (RFC 7009) ---------------------------------------------------------------------------

    def revoke(self, request: Request) -> Answer:
        try:
            params = single_values(request.params)
            client_id = client_id_of(params, request.authorization)
            self._flows.revoke(_required(params, "token"), client_id=client_id)
        except OAuthError as refused:
            return Answer.oauth_error(refused)
        return Answer(200, "text/plain; charset=utf-8", b"")


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise OAuthError("invalid_request", f"the parameter {name!r} is required")
    return value
