"""The sessions ``kubejit login`` leaves on the user's machine, and the private files they live in (stdlib only).

A session is what signing in produced for one (broker, issuer): the ID token the broker accepts, the refresh
token that renews it, and where to renew it. Every command that talks to the broker, and kubectl's
``kubejit token`` plugin on its warm path, read it here, so this module stays on the standard library (like
``transport``): os, stat, json, hashlib and time; fcntl, base64, urllib and ssl only when a refresh is due.

Where and how (the protections):

- ``$XDG_CACHE_HOME/kubejit/sessions`` (default ``~/.cache/kubejit/sessions``), a directory of mode 0700 owned by
  the user (a symlink or another owner's directory is refused; a loose mode is tightened);
- one file per (server, issuer), ``<sha256(server + "\\n" + issuer)[:32]>.json``, mode 0600, replaced atomically
  (a temporary file beside it, then rename), read with O_NOFOLLOW; a file that is a symlink, not a regular
  file, not the user's or readable by group or others is refused, never used;
- ``current-server`` in the same directory: the broker of the last login, for commands given no server.

:func:`current_id_token` renews an ID token that has less than ``min_validity`` seconds left with the refresh
token (RFC 6749 section 6). Concurrent kubectl commands each run the plugin, so the renewal holds an exclusive
``fcntl.flock`` on ``<file>.lock`` and reads the session again after taking it: one refresh runs, the others
find its result (an IdP that rotates refresh tokens would refuse a second use of the old one).

Errors are kubejit's (``kubejit.domain.errors``, imported only when one is raised): no session or a refused
refresh is ``Unauthenticated`` (exit 1, "run kubejit login --server URL"), an unreachable IdP ``Unavailable``
(exit 3). The grant-token cache of ``kubejit token`` uses the same private-file helpers.
"""

# os.path rather than pathlib, and no typing at run time: both would slow the token plugin's warm path down.
# ruff: noqa: PTH101, PTH103, PTH105, PTH108, PTH111, PTH114, PTH117, PTH118, PTH119, PTH120, PTH208

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost the token plugin milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Refresh = Callable[["Session"], dict[str, Any]]

MAX_FILE_BYTES = 64 * 1024
DEFAULT_MIN_VALIDITY = 60  # seconds an ID token must still be valid for; less and it is renewed first
HTTP_TIMEOUT_SECONDS = 30.0
CURRENT_SERVER = "current-server"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class UnsafeFile(OSError):
    """A private file (or its directory) is not the user's alone; the message says what is wrong with it."""


# ---- private files ----------------------------------------------------------------------------------------------


def cache_home(env: Mapping[str, str]) -> str:
    """``$XDG_CACHE_HOME/kubejit``, or ``~/.cache/kubejit`` (XDG: a relative value is ignored)."""
    base = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kubejit")


def read_private(path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of ours alone (mode 0600 or stricter); None if it is absent.

    Raises :class:`UnsafeFile` for a symlink (O_NOFOLLOW), anything but a regular file, another owner's file,
    group or world permission bits, or a file larger than ``limit``.
    """
    try:
        # O_NONBLOCK: a FIFO planted in its place is opened at once (and refused below), not waited on
        descriptor = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        if os.path.islink(path):
            raise UnsafeFile(f"{path} is a symbolic link") from None
        raise UnsafeFile(f"{path} cannot be read: {error.strerror}") from None
    try:
        status = os.fstat(descriptor)
        problem = _not_private(status)
        if problem:
            raise UnsafeFile(f"{path} {problem}")
        data = os.read(descriptor, limit + 1)
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise UnsafeFile(f"{path} is larger than {limit} bytes")
    return data


def read_private_json(path: str, limit: int = MAX_FILE_BYTES) -> Any:
    """The JSON document in ``path`` (see :func:`read_private`); None if absent; ValueError if not JSON."""
    data = read_private(path, limit)
    return None if data is None else json.loads(data)


def private_dir(directory: str) -> None:
    """Create ``directory`` (0700) if needed; refuse a symlink or another owner's; tighten a loose mode."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    status = os.lstat(directory)
    if stat.S_ISLNK(status.st_mode) or not stat.S_ISDIR(status.st_mode):
        raise UnsafeFile(f"{directory} is not a directory of its own (a symbolic link or a file)")
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        raise UnsafeFile(f"{directory} belongs to another user")
    if status.st_mode & 0o777 != 0o700:
        os.chmod(directory, 0o700)


def write_private(path: str, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` (mode 0600), in a private directory (:func:`private_dir`)."""
    directory = os.path.dirname(path)
    private_dir(directory)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def write_private_json(path: str, document: object) -> None:
    """:func:`write_private` of ``document`` as JSON."""
    write_private(path, json.dumps(document).encode())


def _not_private(status: os.stat_result) -> str:
    if not stat.S_ISREG(status.st_mode):
        return "is not a regular file"
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        return "belongs to another user"
    if status.st_mode & 0o077:
        return f"is readable or writable by others (mode {stat.S_IMODE(status.st_mode):04o}; it must be 0600)"
    return ""


# ---- sessions ---------------------------------------------------------------------------------------------------


def sessions_dir(env: Mapping[str, str]) -> str:
    """``$XDG_CACHE_HOME/kubejit/sessions``."""
    return os.path.join(cache_home(env), "sessions")


def session_path(env: Mapping[str, str], server: str, issuer: str) -> str:
    """The file of the session for (server, issuer)."""
    key = hashlib.sha256(f"{normal_server(server)}\n{issuer}".encode()).hexdigest()[:32]
    return os.path.join(sessions_dir(env), f"{key}.json")


def normal_server(server: str) -> str:
    """The broker URL as sessions store it (no trailing slash)."""
    return server.strip().rstrip("/")


_TEXT_FIELDS = ("server", "issuer", "issuerName", "clientId", "tokenEndpoint", "idToken", "user")
_OPTIONAL_TEXT_FIELDS = ("clientSecret", "revocationEndpoint", "caData", "refreshToken")
_INT_FIELDS = ("idTokenExpiresAt", "loggedInAt")


class Session:
    """One stored session: the file's document (camelCase keys, as on disk) and where it lives."""

    __slots__ = ("document", "path")

    def __init__(self, path: str, document: dict[str, Any]) -> None:
        self.path = path
        self.document = document

    @classmethod
    def checked(cls, path: str, document: Any) -> Session:
        """The session in ``document``; ValueError naming the first field that is missing or of the wrong type."""
        if not isinstance(document, dict):
            raise ValueError("it is not a JSON object")
        for name in _TEXT_FIELDS:
            if not isinstance(document.get(name), str) or not document[name]:
                raise ValueError(f"{name} is missing")
        for name in _OPTIONAL_TEXT_FIELDS:
            if document.get(name) is not None and not isinstance(document[name], str):
                raise ValueError(f"{name} is not text")
        for name in _INT_FIELDS:
            value = document.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} is not a whole number")
        return cls(path, document)

    def __getattr__(self, name: str) -> Any:  # session.idToken etc.: the fields, read-only
        try:
            return self.document[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def owner(self) -> str:
        """Whom a grant token obtained through this session belongs to: this login (server, issuer, user and its
        moment), so it outlives the ID token's renewals but not a new login (as another user, perhaps)."""
        d = self.document
        key = f"session\n{d['server']}\n{d['issuer']}\n{d['user']}\n{d['loggedInAt']}"
        return hashlib.sha256(key.encode()).hexdigest()

    def valid_for(self, seconds: float, now: float) -> bool:
        """Whether the ID token stays valid ``seconds`` more."""
        return int(self.document["idTokenExpiresAt"]) - now >= seconds


def load_session(path: str) -> Session | None:
    """The session stored in ``path``; None if there is none. An unsafe or damaged file is an error."""
    try:
        document = read_private_json(path)
    except UnsafeFile as error:
        raise _errors().Unauthenticated(
            f"refusing the session file: {error}: remove it and run kubejit login"
        ) from None
    except ValueError:
        document = {}
    if document is None:
        return None
    try:
        return Session.checked(path, document)
    except ValueError as error:
        raise _errors().Unauthenticated(
            f"the session file {path} is damaged ({error}): remove it and run kubejit login"
        ) from None


def save_session(env: Mapping[str, str], document: dict[str, Any]) -> Session:
    """Store a new session (checked first) and remember its server as the current one."""
    document = {**document, "server": normal_server(str(document.get("server", "")))}
    session = Session.checked(session_path(env, document["server"], str(document["issuer"])), document)
    write_private_json(session.path, document)
    remember_server(env, document["server"])
    return session


def sessions_for(env: Mapping[str, str], server: str | None = None) -> list[Session]:
    """The stored sessions (of ``server``, when given), the newest login first."""
    directory = sessions_dir(env)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return []
    found = [s for s in (load_session(os.path.join(directory, n)) for n in names) if s is not None]
    if server is not None:
        found = [s for s in found if s.server == normal_server(server)]
    return sorted(found, key=lambda s: -int(s.loggedInAt))


def find_session(server: str, env: Mapping[str, str]) -> Session | None:
    """The session to use for ``server``: ``$KUBEJIT_ISSUER``'s (its name or URL) or the newest login's."""
    wanted = env.get("KUBEJIT_ISSUER", "").strip()
    for session in sessions_for(env, server):
        if not wanted or wanted in (session.issuerName, session.issuer):
            return session
    return None


def remove_session(session: Session) -> None:
    """Delete the session's file and its lock file (absent ones are fine)."""
    for path in (session.path, session.path + ".lock"):
        if os.path.lexists(path):
            os.unlink(path)


def current_server(env: Mapping[str, str]) -> str | None:
    """The broker of the last login (``current-server``), or None. An unsafe file is an error."""
    try:
        data = read_private(os.path.join(sessions_dir(env), CURRENT_SERVER), 4096)
    except UnsafeFile as error:
        raise _errors().InvalidInput(f"refusing {error}: remove it, or give --server URL") from None
    text = data.decode("utf-8", "replace").strip() if data else ""
    return text or None


def remember_server(env: Mapping[str, str], server: str) -> None:
    """Make ``server`` the one commands use when given none."""
    write_private(os.path.join(sessions_dir(env), CURRENT_SERVER), (normal_server(server) + "\n").encode())


def forget_server(env: Mapping[str, str], server: str) -> None:
    """Drop ``current-server`` if it names ``server``."""
    if current_server(env) == normal_server(server):
        os.unlink(os.path.join(sessions_dir(env), CURRENT_SERVER))


def no_session_message(server: str) -> str:
    return f"you are not signed in to {server}: run kubejit login --server {server} (or set KUBEJIT_TOKEN)"


def current_id_token(
    server: str,
    env: Mapping[str, str],
    *,
    min_validity: float = DEFAULT_MIN_VALIDITY,
    now: Callable[[], float] = time.time,
    refresh: Refresh | None = None,
) -> str:
    """The stored ID token for ``server``, renewed first when it has less than ``min_validity`` seconds left.

    ``refresh`` asks the IdP for new tokens (default: the refresh_token grant at the session's token endpoint).
    """
    session = find_session(server, env)
    if session is None:
        raise _errors().Unauthenticated(no_session_message(normal_server(server)))
    return session_id_token(session, min_validity=min_validity, now=now, refresh=refresh)


def session_id_token(
    session: Session,
    *,
    min_validity: float = DEFAULT_MIN_VALIDITY,
    now: Callable[[], float] = time.time,
    refresh: Refresh | None = None,
) -> str:
    """The ID token of a session already found, renewed first when it has less than ``min_validity`` left."""
    if session.valid_for(min_validity, now()):
        return str(session.idToken)
    fresh = renewed(session, min_validity=min_validity, now=now, refresh=refresh or refresh_at_idp)
    return str(fresh.idToken)


def renewed(session: Session, *, min_validity: float, now: Callable[[], float], refresh: Refresh) -> Session:
    """The session with a fresh ID token: one refresh at a time (flock on ``<file>.lock``), re-read under it."""
    import fcntl

    lock = os.open(session.path + ".lock", os.O_RDWR | os.O_CREAT | _O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = load_session(session.path)
        if current is None:
            raise _errors().Unauthenticated(no_session_message(session.server))
        if current.valid_for(min_validity, now()):
            return current  # another process renewed it while this one waited
        if not current.refreshToken:
            raise _errors().Unauthenticated(
                f"your session with {current.issuerName} has expired and holds no refresh token: "
                f"run kubejit login --server {current.server}"
            )
        fresh = apply_refresh(current, refresh(current), now())
        write_private_json(fresh.path, fresh.document)
        return fresh
    finally:
        os.close(lock)  # closing the descriptor releases the lock


def apply_refresh(session: Session, answer: dict[str, Any], now: float) -> Session:
    """The session after a token response: its ID token checked (issuer, audience, expiry, same subject); a
    rotated refresh token replaces the old one."""
    id_token = answer.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise _errors().Unauthenticated(
            f"{session.issuerName} renewed the session without an ID token: run kubejit login --server {session.server}"
        )
    claims = check_id_token(id_token, issuer=session.issuer, client_id=session.clientId, now=now)
    if claims.get("sub") != id_token_claims(session.idToken).get("sub"):
        raise _errors().Unauthenticated(
            f"{session.issuerName} renewed the session for another subject: run kubejit login --server {session.server}"
        )
    rotated = answer.get("refresh_token")
    document = {
        **session.document,
        "idToken": id_token,
        "idTokenExpiresAt": int(claims["exp"]),
        "refreshToken": rotated if isinstance(rotated, str) and rotated else session.refreshToken,
    }
    return Session(session.path, document)


# ---- ID tokens --------------------------------------------------------------------------------------------------


def id_token_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, decoded but NOT verified (the broker verifies the signature); {} if unreadable."""
    import base64

    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def check_id_token(token: str, *, issuer: str, client_id: str, now: float, nonce: str | None = None) -> dict[str, Any]:
    """The ID token's claims after the checks a client owes (OIDC Core 3.1.3.7): ``iss`` is ``issuer``, ``aud``
    holds ``client_id``, ``exp`` is in the future and ``nonce`` (when one was sent) is echoed. Raises
    Unauthenticated saying which check failed."""
    claims = id_token_claims(token)
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    expiry = claims.get("exp")
    problem = ""
    if not claims:
        problem = "the IdP's answer holds no readable ID token"
    elif claims.get("iss") != issuer:
        problem = f"wrong issuer: the ID token is from {str(claims.get('iss'))[:200]!r}, expected {issuer!r}"
    elif client_id not in audiences:
        problem = f"the ID token is for {audience!r}, not for the client {client_id!r}"
    elif not isinstance(expiry, int | float) or isinstance(expiry, bool) or expiry <= now:
        problem = "the IdP answered with an expired ID token (is this machine's clock right?)"
    elif nonce is not None and claims.get("nonce") != nonce:
        problem = "the ID token does not echo the nonce of this sign-in (a replayed answer?)"
    if problem:
        raise _errors().Unauthenticated(problem)
    return claims


# ---- the refresh at the IdP (RFC 6749 section 6) ---------------------------------------------------------------


def refresh_at_idp(session: Session) -> dict[str, Any]:
    """POST the refresh_token grant to the session's token endpoint; the JSON answer, or kubejit's error."""
    import urllib.error
    import urllib.parse
    import urllib.request

    form = {"grant_type": "refresh_token", "refresh_token": session.refreshToken, "client_id": session.clientId}
    if session.clientSecret:
        form["client_secret"] = session.clientSecret
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked by _opener: https, or http on loopback)
        session.tokenEndpoint,
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
        headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with _opener(session).open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return _token_answer(session, response.read(MAX_FILE_BYTES))
    except urllib.error.HTTPError as error:
        with error:
            body = error.read(MAX_FILE_BYTES)
        if error.code >= 500:
            raise _errors().Unavailable(
                f"the identity provider {session.issuerName} answered HTTP {error.code}"
            ) from None
        raise _refused(session, body, error.code) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
        raise _errors().Unavailable(
            f"cannot reach the identity provider at {session.tokenEndpoint} to renew your session: {reason}"
        ) from None


def _opener(session: Session) -> Any:
    import base64
    import urllib.request

    from kubejit.transport import TrustError, trust_context, url_problem

    if url_problem(session.tokenEndpoint) is not None:
        raise _errors().Unauthenticated(
            f"the session's token endpoint {session.tokenEndpoint!r} is not https://: run kubejit login again"
        )
    handlers: list[Any] = [urllib.request.ProxyHandler({})] if session.tokenEndpoint.startswith("http:") else []
    if session.tokenEndpoint.startswith("https:"):
        try:
            pem = base64.b64decode(session.caData) if session.caData else None
            handlers.append(urllib.request.HTTPSHandler(context=trust_context(cadata=pem)))
        except (TrustError, ValueError) as error:
            raise _errors().Unauthenticated(
                f"the session's IdP CA cannot be used ({error}): run kubejit login"
            ) from None
    return urllib.request.build_opener(*handlers)


def _token_answer(session: Session, body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise _errors().Unavailable(f"the identity provider {session.issuerName} did not answer with JSON")
    return answer


def _refused(session: Session, body: bytes, status: int) -> Exception:
    """The IdP refused the refresh token (expired, revoked, rotated away): the session is over."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    code = str(answer.get("error") or f"HTTP {status}")[:80]
    detail = str(answer.get("error_description") or "")[:200]
    why = f"{code}: {detail}" if detail else code
    error: Exception = _errors().Unauthenticated(
        f"your session with {session.issuerName} ended (the IdP refused to renew it: {why}): "
        f"run kubejit login --server {session.server}"
    )
    return error


def _errors() -> Any:
    """kubejit.domain.errors, imported only when an error is raised (the warm path never pays for it)."""
    from kubejit.domain import errors

    return errors
