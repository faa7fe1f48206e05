"""The dev OIDC issuer's sign-in state: pending logins, authorization codes, device codes, refresh tokens.

:mod:`kubejit.devcluster.oidc_endpoints` calls it for every step of the authorization code flow (RFC 6749 4.1
with PKCE), the device authorization grant (RFC 8628), refresh (RFC 6749 6) and revocation (RFC 7009). It does
no I/O and reads no clock: every step takes ``now`` (seconds since the epoch), so the unit tests walk through
expiry without sleeping. One lock guards the state, because the issuer serves from a ThreadingHTTPServer.

What it enforces is what a real IdP enforces: a code is used once (a second use also ends the session it
started), lives ``code_ttl`` seconds and is bound to its client, redirect URI and PKCE challenge; a refresh
token works once (rotation; replaying a spent one ends its session) and no refresh outlives the session's
``refresh_token_ttl`` from sign-in; a device code answers ``authorization_pending`` until someone decides,
``slow_down`` (and a 5 s longer interval) when polled too fast, then ``access_denied`` or tokens, once, and
``expired_token`` after ``device_code_ttl``. It is still a dev tool: whoever clicks a user's button is that user.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

from kubejit.devcluster.oidc_requests import LoginRequest, OAuthError, PageError, verifier_matches
from kubejit.devcluster.users import DevUser
from kubejit.domain.errors import InvalidInput

DEFAULT_ID_TOKEN_TTL_SECONDS = 3600
DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 12 * 3600
DEFAULT_DEVICE_INTERVAL_SECONDS = 5
FORGET_AFTER_SECONDS = 3600  # how long an expired code, token or page is still recognised as expired
SLOW_DOWN_STEP_SECONDS = 5  # RFC 8628 3.5: the interval grows by 5 s at each slow_down
_POLL_GRACE_SECONDS = 0.2  # a client that waits exactly the interval may arrive a hair early
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 6.1: no vowels, no look-alike digits
_USER_CODE_LENGTH = 8


@dataclass(frozen=True)
class Lifetimes:
    """How long each thing lives, in seconds. The issuer's constructor and tests set them."""

    id_token_ttl: int = DEFAULT_ID_TOKEN_TTL_SECONDS
    refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL_SECONDS  # from sign-in, across rotations
    code_ttl: int = 60
    device_code_ttl: int = 600
    device_interval: int = DEFAULT_DEVICE_INTERVAL_SECONDS
    page_ttl: int = 600  # a login or device page's transaction id

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInput(
                    f"dev OIDC issuer: {field.name} must be a positive whole number of seconds, got {value!r}"
                )


@dataclass(frozen=True)
class SignIn:
    """Who signed in, for which client and scope: what an ID token and a refresh token are about."""

    user: DevUser
    client_id: str
    scope: tuple[str, ...]
    session: str  # one per sign-in; every refresh token of it belongs to it
    session_ends_at: float
    nonce: str | None = None


@dataclass(frozen=True)
class DeviceStart:
    """The answer to a device authorization request (RFC 8628 3.2), without the URIs the endpoint adds."""

    device_code: str
    user_code: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class _Code:
    request: LoginRequest
    sign_in: SignIn
    expires_at: float


@dataclass
class _Device:
    user_code: str
    client_id: str
    scope: tuple[str, ...]
    expires_at: float
    interval: int
    last_poll: float | None = None
    user: DevUser | None = None
    denied: bool = False


@dataclass(frozen=True)
class _Refresh:
    sign_in: SignIn
    spent: bool = False


def _token() -> str:
    return secrets.token_urlsafe(32)


def normalized_user_code(text: str) -> str:
    """A user code as typed (any case, with dashes or spaces) in its stored form, e.g. ``BCDFGHJK``."""
    return "".join(char for char in text.upper() if char not in "- \t")


def shown_user_code(code: str) -> str:
    """A stored user code as people read it: ``BCDF-GHJK``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


class DevFlows:
    """The state of every sign-in in progress and every live refresh token; thread-safe."""

    def __init__(self, users: Sequence[DevUser], lifetimes: Lifetimes | None = None) -> None:
        self._users = {user.name: user for user in users}
        self._lifetimes = lifetimes or Lifetimes()
        self._lock = threading.Lock()
        self._pages: dict[str, tuple[LoginRequest | None, float]] = {}  # transaction -> (login or device page)
        self._codes: dict[str, _Code] = {}
        self._spent_codes: dict[str, SignIn] = {}
        self._devices: dict[str, _Device] = {}  # device code -> state
        self._user_codes: dict[str, str] = {}  # user code -> device code
        self._refresh: dict[str, _Refresh] = {}
        self._ended_sessions: dict[str, float] = {}  # session -> when it would have ended

    @property
    def lifetimes(self) -> Lifetimes:
        return self._lifetimes

    @lifetimes.setter
    def lifetimes(self, value: Lifetimes) -> None:
        self._lifetimes = value

    def changed_lifetimes(self, **changes: int) -> Lifetimes:
        """The current lifetimes with ``changes`` (checked), e.g. ``id_token_ttl=5``."""
        try:
            return replace(self._lifetimes, **changes)
        except TypeError:
            known = ", ".join(field.name for field in fields(Lifetimes))
            raise InvalidInput(f"dev OIDC issuer: unknown lifetime in {sorted(changes)}; known: {known}") from None

    # ---- pages (login and device): one transaction id per page shown, used once ------------------------

    def open_page(self, login: LoginRequest | None, *, now: float) -> str:
        """A transaction id for a page just shown: the login page of ``login``, or the device page (None)."""
        with self._lock:
            self._sweep(now)
            transaction = _token()
            self._pages[transaction] = (login, now + self._lifetimes.page_ttl)
            return transaction

    def _take_page(self, transaction: str, *, now: float) -> LoginRequest | None:
        entry = self._pages.pop(transaction, None)
        if entry is None or entry[1] <= now:
            raise PageError("This page has expired", "it was used already or is too old: start signing in again")
        return entry[0]

    def _user(self, name: str) -> DevUser:
        user = self._users.get(name)
        if user is None:
            raise PageError("Unknown user", f"{name!r} is not a dev user; pick one of {', '.join(self._users)}")
        return user

    # ---- authorization code -------------------------------------------------------------------------------

    def finish_login(self, transaction: str, user_name: str | None, *, now: float) -> tuple[LoginRequest, str | None]:
        """The login page's answer: its request and a new code for ``user_name``, or no code (denied)."""
        with self._lock:
            login = self._take_page(transaction, now=now)
            if login is None:
                raise PageError("This page has expired", "it belongs to no sign-in: start signing in again")
            if user_name is None:
                return login, None
            sign_in = self._new_sign_in(self._user(user_name), login.client_id, login.scope, now, login.nonce)
            code = _token()
            self._codes[code] = _Code(login, sign_in, now + self._lifetimes.code_ttl)
            return login, code

    def redeem_code(
        self, code: str, *, client_id: str, redirect_uri: str | None, code_verifier: str | None, now: float
    ) -> SignIn:
        """The sign-in a code stands for. A code works once, whatever the outcome; reusing it ends its session."""
        with self._lock:
            self._sweep(now)
            issued = self._codes.pop(code, None)
            if issued is None:
                self._end_session_of_spent_code(code)
                raise OAuthError("invalid_grant", "the authorization code is unknown, expired or already used")
            self._spent_codes[code] = issued.sign_in
            if issued.expires_at <= now:
                raise OAuthError("invalid_grant", "the authorization code has expired: sign in again")
            request = issued.request
            if client_id != request.client_id or redirect_uri != request.redirect_uri:
                raise OAuthError("invalid_grant", "the code was issued to another client_id or redirect_uri")
            if not verifier_matches(code_verifier or "", request.code_challenge):
                raise OAuthError("invalid_grant", "the code_verifier does not match the PKCE code_challenge")
            return issued.sign_in

    def _end_session_of_spent_code(self, code: str) -> None:
        spent = self._spent_codes.get(code)
        if spent is not None:  # RFC 6749 4.1.2: a replayed code revokes what it gave
            self._end_session(spent.session, spent.session_ends_at)

    # ---- device authorization grant -----------------------------------------------------------------------

    def start_device(self, client_id: str, scope: tuple[str, ...], *, now: float) -> DeviceStart:
        with self._lock:
            self._sweep(now)
            lifetimes = self._lifetimes
            device_code = _token()
            user_code = self._new_user_code()
            self._devices[device_code] = _Device(
                user_code, client_id, scope, now + lifetimes.device_code_ttl, lifetimes.device_interval
            )
            self._user_codes[user_code] = device_code
            return DeviceStart(device_code, user_code, lifetimes.device_code_ttl, lifetimes.device_interval)

    def _new_user_code(self) -> str:
        while True:
            code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(_USER_CODE_LENGTH))
            if code not in self._user_codes:
                return code

    def decide_device(self, transaction: str, user_code: str, user_name: str | None, *, now: float) -> DevUser | None:
        """The device page's answer: approve the waiting device as ``user_name``, or deny it (None)."""
        with self._lock:
            if self._take_page(transaction, now=now) is not None:
                raise PageError("This page has expired", "it belongs to no device sign-in: open the device page again")
            device = self._waiting_device(user_code, now=now)
            if user_name is None:
                device.denied = True
                return None
            device.user = self._user(user_name)
            return device.user

    def _waiting_device(self, user_code: str, *, now: float) -> _Device:
        code = normalized_user_code(user_code)
        device = self._devices.get(self._user_codes.get(code, ""))
        if device is None:
            raise UserCodeError(f"no sign-in waits for the code {user_code!r}: check the code your terminal shows")
        if device.expires_at <= now:
            raise UserCodeError(f"the code {shown_user_code(code)} has expired: start the sign-in again")
        if device.denied or device.user is not None:
            raise UserCodeError(f"the code {shown_user_code(code)} has been answered already")
        return device

    def poll_device(self, device_code: str, *, client_id: str, now: float) -> SignIn:
        """The device's poll: its sign-in once approved, else the RFC 8628 3.5 error that says what to do."""
        with self._lock:
            self._sweep(now)
            device = self._devices.get(device_code)
            if device is None or device.client_id != client_id:
                raise OAuthError("invalid_grant", "the device_code is unknown or already used")
            if device.expires_at <= now:
                raise OAuthError("expired_token", "the device code has expired: start the sign-in again")
            last_poll, device.last_poll = device.last_poll, now
            polled_too_soon = last_poll is not None and now - last_poll < device.interval - _POLL_GRACE_SECONDS
            if polled_too_soon:
                device.interval += SLOW_DOWN_STEP_SECONDS
                raise OAuthError("slow_down", f"poll at most every {device.interval} seconds")
            if device.denied:
                self._forget_device(device_code)
                raise OAuthError("access_denied", "the sign-in was denied on the device page")
            if device.user is None:
                raise OAuthError("authorization_pending", "waiting for someone to enter the code on the device page")
            self._forget_device(device_code)
            return self._new_sign_in(device.user, client_id, device.scope, now, None)

    def _forget_device(self, device_code: str) -> None:
        device = self._devices.pop(device_code)
        self._user_codes.pop(device.user_code, None)

    # ---- refresh tokens (rotating) and revocation ---------------------------------------------------------

    def _new_sign_in(
        self, user: DevUser, client_id: str, scope: tuple[str, ...], now: float, nonce: str | None
    ) -> SignIn:
        return SignIn(user, client_id, scope, _token(), now + self._lifetimes.refresh_token_ttl, nonce)

    def issue_refresh_token(self, sign_in: SignIn) -> str:
        """A new refresh token for a sign-in (no nonce is kept: refreshed ID tokens carry none)."""
        with self._lock:
            if sign_in.session in self._ended_sessions:
                raise OAuthError("invalid_grant", "the session was ended (its code was replayed): sign in again")
            token = _token()
            self._refresh[token] = _Refresh(replace(sign_in, nonce=None))
            return token

    def rotate_refresh_token(self, token: str, *, client_id: str, now: float) -> tuple[SignIn, str]:
        """Spend a refresh token: its sign-in and the one refresh token that replaces it."""
        with self._lock:
            self._sweep(now)
            entry = self._refresh.get(token)
            if entry is None:
                raise OAuthError("invalid_grant", "the refresh token is unknown, revoked or expired: sign in again")
            sign_in = entry.sign_in
            if entry.spent:  # a replay: someone else may hold the rotated token, so end the whole session
                self._end_session(sign_in.session, sign_in.session_ends_at)
                raise OAuthError(
                    "invalid_grant", "the refresh token was used already; the session is ended: sign in again"
                )
            if sign_in.client_id != client_id:
                raise OAuthError("invalid_grant", "the refresh token was issued to another client")
            if sign_in.session_ends_at <= now:
                raise OAuthError("invalid_grant", "the session has ended (refresh token expired): sign in again")
            self._refresh[token] = replace(entry, spent=True)
            new_token = _token()
            self._refresh[new_token] = _Refresh(sign_in)
            return sign_in, new_token

    def revoke(self, token: str, *, client_id: str) -> None:
        """RFC 7009: revoking a refresh token ends its session; unknown tokens are ignored (2.2)."""
        with self._lock:
            entry = self._refresh.get(token)
            if entry is None:
                return
            if entry.sign_in.client_id != client_id:
                raise OAuthError("invalid_request", "the token was issued to another client")
            self._end_session(entry.sign_in.session, entry.sign_in.session_ends_at)

    def _end_session(self, session: str, ends_at: float) -> None:
        self._ended_sessions[session] = ends_at
        for token in [token for token, entry in self._refresh.items() if entry.sign_in.session == session]:
            del self._refresh[token]
        for code in [code for code, issued in self._codes.items() if issued.sign_in.session == session]:
            del self._codes[code]

    def live_refresh_tokens(self) -> int:
        """How many refresh tokens would still be accepted (for tests)."""
        with self._lock:
            return sum(1 for entry in self._refresh.values() if not entry.spent)

    def _sweep(self, now: float) -> None:
        """Forget what expired FORGET_AFTER_SECONDS ago, so a long-running demo does not grow without bound.

        Until then an expired thing is still known, and refused by its own expiry check with a clear message.
        """
        horizon = now - FORGET_AFTER_SECONDS
        for transaction in [t for t, (_, expires_at) in self._pages.items() if expires_at <= horizon]:
            del self._pages[transaction]
        for code in [c for c, issued in self._codes.items() if issued.expires_at <= horizon]:
            self._spent_codes[code] = self._codes.pop(code).sign_in
        for code in [c for c, sign_in in self._spent_codes.items() if sign_in.session_ends_at <= horizon]:
            del self._spent_codes[code]
        for device_code in [d for d, device in self._devices.items() if device.expires_at <= horizon]:
            self._forget_device(device_code)
        for token in [t for t, entry in self._refresh.items() if entry.sign_in.session_ends_at <= horizon]:
            del self._refresh[token]
        for session in [s for s, ends_at in self._ended_sessions.items() if ends_at <= horizon]:
            del self._ended_sessions[session]


class UserCodeError(PageError):
    """The code typed on the device page matches no waiting device: the page is shown again to retry."""

    def __init__(self, message: str) -> None:
        super().__init__("Code not accepted", message)
