"""``kubejit token``: kubectl's exec credential plugin, kept to the standard library so that it starts fast.

kubectl runs an exec plugin once per kubectl process and keeps nothing between processes, so the plugin's
start-up is paid on every kubectl command. ``main.main()`` hands ``token`` to this module before Typer, Rich,
httpx or pydantic are imported. On the warm path (a cached grant token still valid for 30 seconds or more) it
needs only os, stat, sys, time, json and hashlib (and ``kubejit.login_sessions``, as light); urllib, ssl and
datetime are imported only when the broker or the IdP has to be asked. Even ``typing`` stays out (it alone costs
milliseconds).

Who asks: the ID token in ``KUBEJIT_TOKEN`` when it is set, otherwise the session ``kubejit login`` stored for the
broker (``KUBEJIT_SERVER``, or the last login's), renewed with its refresh token when the ID token is about to
expire (``kubejit.login_sessions``: one renewal at a time across concurrent kubectl commands).

The cache is one file per grant (``$XDG_CACHE_HOME/kubejit/tokens/<grant>.json``, directory 0700, file 0600,
replaced atomically; the private-file helpers of ``kubejit.login_sessions``). Each entry is bound to whom it was
obtained for: the ID token (by its SHA-256), or the login of a session (so it outlives the ID token's renewals,
not a new login), so another identity in the same account never gets it. A grant token never outlives its grant,
and the gateway refuses a revoked grant's tokens itself, so serving one from the cache never widens access.

``kubejit token --id-token`` prints the (renewed) ID token itself as the ExecCredential, for a kubeconfig that
talks to kube-apiserver directly (it trusts the same issuer).

``KUBERNETES_EXEC_INFO`` (what kubectl tells the plugin) is not needed: the answer does not depend on the
cluster, and the plugin never prompts nor reads stdin, so it works where kubectl has no terminal. Errors are
one line on stderr with the CLI's exit codes; a token is written nowhere but the ExecCredential on stdout.
"""

# os.path rather than pathlib: importing pathlib would slow the warm path down (see the docstring).
# ruff: noqa: PTH118, PTH120

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

from kubejit import login_sessions

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost more than this whole warm path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO, Any

API_VERSION = "client.authentication.k8s.io/v1"
MIN_REMAINING_SECONDS = 30  # a cached token with less validity left is replaced
MAX_TOKEN_BYTES = 16 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024
HTTP_TIMEOUT_SECONDS = 30.0

# The CLI's exit codes (DESIGN.md section 4; kubejit.entrypoints.cli.errors holds the same values).
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

USAGE = """\
Usage: kubejit token [--grant ID]
       kubejit token --id-token

  Print an ExecCredential (client.authentication.k8s.io/v1) for kubectl: a short-lived token for your active
  grant, served from a per-grant cache while it stays valid for 30 seconds or more, otherwise asked from the
  broker. kubectl runs it for every command; `kubejit kubeconfig --grant ID` writes a kubeconfig that does.

  --grant ID   the grant (request id, req-...); default: $KUBEJIT_GRANT
  --id-token   print your session's ID token instead (renewed when it is about to expire), for a kubeconfig
               user that talks to kube-apiserver directly
  -h, --help   show this message

  Who you are: $KUBEJIT_TOKEN (an ID token) if set, otherwise the session of `kubejit login` for the broker.
  Environment: KUBEJIT_SERVER (the broker; default: the last login's), KUBEJIT_ISSUER (which session, when you
  signed in through several issuers), KUBEJIT_CA (CA bundle for an HTTPS broker), XDG_CACHE_HOME (the caches
  live in $XDG_CACHE_HOME/kubejit/, by default ~/.cache/kubejit/).
"""

_GRANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_TOKEN_CHARS = _GRANT_CHARS | {"."}  # a JWS in compact form: base64url segments joined by dots
_ENDED = ("expired", "revoked", "denied", "cancelled", "timed-out")
_PRINT_ID = "--id-token"


class PluginError(Exception):
    """One line for stderr, and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the broker wrote
        self.code = code


def run(
    args: list[str],
    environ: Mapping[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """``kubejit token ARGS``: print the ExecCredential, or one line on stderr; return the exit code."""
    env = os.environ if environ is None else environ
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    try:
        if _PRINT_ID in args:
            token, expires = id_token_credential(args, env)
        else:
            grant = parse_args(args, env)
            if grant is None:
                out.write(USAGE)
                return EXIT_OK
            token, expires = credential(grant, env, warn=err)
    except PluginError as error:
        err.write(f"kubejit token: {error}\n")
        return error.code
    except login_sessions.UnsafeFile as error:  # the session cache is not this user's alone: never used
        err.write(f"kubejit token: refusing the session cache: {error}; remove it and run kubejit login\n")
        return EXIT_USAGE
    except Exception as error:
        code = _kubejit_exit_code(error)
        if code is None:
            raise
        err.write(f"kubejit token: {' '.join(str(error).split())}\n")
        return code
    out.write(exec_credential(token, expires) + "\n")
    out.flush()
    return EXIT_OK


def _kubejit_exit_code(error: Exception) -> int | None:
    """The exit code of one of kubejit's errors (raised by login_sessions), None for any other exception. The
    error module is loaded whenever one of its errors exists, so asking sys.modules imports nothing."""
    errors = sys.modules.get("kubejit.domain.errors")
    if errors is None or not isinstance(error, errors.KubejitError):
        return None
    return int(errors.exit_code_for(error))


def parse_args(args: list[str], env: Mapping[str, str]) -> str | None:
    """The grant asked for (``--grant ID``, ``--grant=ID`` or ``$KUBEJIT_GRANT``); None for ``--help``."""
    grant: str | None = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-h", "--help"):
            return None
        if arg == "--grant":
            if not rest:
                raise PluginError("--grant needs a value: kubejit token --grant ID", EXIT_USAGE)
            grant = rest.pop(0)
        elif arg.startswith("--grant="):
            grant = arg.partition("=")[2]
        else:
            raise PluginError(f"unexpected argument {arg[:60]!r}: usage: kubejit token [--grant ID]", EXIT_USAGE)
    grant = grant if grant is not None else env.get("KUBEJIT_GRANT", "")
    if not grant:
        raise PluginError("say which grant: --grant ID or KUBEJIT_GRANT (the id of your request, req-...)", EXIT_USAGE)
    if not is_grant_id(grant):
        raise PluginError(f"{grant[:100]!r} is not a grant id (they look like req-0123abcd...)", EXIT_USAGE)
    return grant


def is_grant_id(value: str) -> bool:
    """Letters, digits, ``-`` and ``_`` only (the id names the cache file), at most 100 characters."""
    return 0 < len(value) <= 100 and set(value) <= _GRANT_CHARS


class Caller:
    """Who asks: the ID token in ``KUBEJIT_TOKEN``, else the stored session for the broker (KUBEJIT_SERVER, or
    the last login's). ``owner`` binds cache entries to it; ``id_token()`` renews a session's token if due."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.token = env.get("KUBEJIT_TOKEN", "").strip()
        self.server = env.get("KUBEJIT_SERVER", "").strip() or login_sessions.current_server(env) or ""
        self.session: login_sessions.Session | None = None
        if self.token:
            self.owner = hashlib.sha256(self.token.encode()).hexdigest()
            return
        self.session = login_sessions.find_session(self.server, env) if self.server else None
        if self.session is None:
            where = f"kubejit login --server {self.server}" if self.server else "kubejit login --server URL"
            raise PluginError(
                "say who you are: set KUBEJIT_TOKEN (an ID token from your IdP) in the environment kubectl runs "
                f"in, or sign in once with {where}",
                EXIT_USAGE,
            )
        self.server = self.session.server
        self.owner = self.session.owner

    def id_token(self) -> str:
        if self.session is None:
            return self.token
        return login_sessions.session_id_token(self.session)  # the session found above: not looked up again


def credential(grant: str, env: Mapping[str, str], *, warn: IO[str] | None = None) -> tuple[str, int]:
    """A grant token and its expiry (Unix seconds): from the cache if it stays valid long enough, else the broker's.

    A new token is cached; if the cache cannot be written, the token is still returned and ``warn`` says why.
    """
    caller = Caller(env)
    path = os.path.join(cache_dir(env), f"{grant}.json")
    cached = read_cache(path, caller.owner, time.time())
    if cached is not None:
        return cached
    token, expires = fetch(grant, env, caller)
    try:
        write_cache(path, {"grant": grant, "owner": caller.owner, "expires": expires, "token": token})
    except OSError as error:
        if warn is not None:
            reason = error.strerror or str(error)
            warn.write(f"kubejit token: warning: cannot cache the token in {os.path.dirname(path)}: {reason}\n")
    return token, expires


def id_token_credential(args: list[str], env: Mapping[str, str]) -> tuple[str, int]:
    """``--id-token``: the caller's ID token (a session's renewed first if due) and its expiry."""
    if args != [_PRINT_ID]:
        raise PluginError("--id-token takes nothing else: usage: kubejit token --id-token", EXIT_USAGE)
    token = Caller(env).id_token()
    expires = login_sessions.id_token_claims(token).get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool) or not _is_token(token):
        raise PluginError(
            "the ID token is not a JWT with an expiry (exp): sign in again with kubejit login", EXIT_USAGE
        )
    return token, expires


def exec_credential(token: str, expires: int) -> str:
    """The ExecCredential kubectl reads from stdout (expirationTimestamp: RFC 3339, UTC, seconds)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
    document = {
        "apiVersion": API_VERSION,
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": stamp},
    }
    return json.dumps(document)


# ---- the cache -------------------------------------------------------------------------------------------------


def cache_dir(env: Mapping[str, str]) -> str:
    """``$XDG_CACHE_HOME/kubejit/tokens``, or ``~/.cache/kubejit/tokens`` (XDG: a relative value is ignored)."""
    return os.path.join(login_sessions.cache_home(env), "tokens")


def read_cache(path: str, owner: str, now: float) -> tuple[str, int] | None:
    """The cached token and its expiry if it is ours and valid for MIN_REMAINING_SECONDS more; else None.

    A file that is not ours alone (another owner, group or world bits, a symlink), unreadable or malformed is a
    miss: the broker is asked and the file replaced.
    """
    try:
        entry = login_sessions.read_private_json(path, MAX_TOKEN_BYTES + 1024)
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("owner") != owner:
        return None
    token, expires = entry.get("token"), entry.get("expires")
    if not isinstance(token, str) or not _is_token(token) or not isinstance(expires, int) or isinstance(expires, bool):
        return None
    if expires - now < MIN_REMAINING_SECONDS:
        return None
    return token, expires


def write_cache(path: str, entry: dict[str, object]) -> None:
    """Replace the cache file atomically (a temporary file in the same directory, then rename), mode 0600."""
    login_sessions.write_private_json(path, entry)


def forget_cached(env: Mapping[str, str], owner: str) -> int:
    """Remove the cached grant tokens of ``owner`` (``kubejit logout``); how many were removed."""
    directory = cache_dir(env)
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json")]  # noqa: PTH208
    except OSError:
        return 0
    removed = 0
    for name in names:
        path = os.path.join(directory, name)
        try:
            entry = login_sessions.read_private_json(path, MAX_TOKEN_BYTES + 1024)
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and entry.get("owner") == owner:
            os.unlink(path)  # noqa: PTH108
            removed += 1
    return removed


def _is_token(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_BYTES and set(token) <= _TOKEN_CHARS


# ---- the broker ------------------------------------------------------------------------------------------------


def fetch(grant: str, env: Mapping[str, str], caller: Caller) -> tuple[str, int]:
    """Ask the broker for a grant token: ``POST /api/v1/requests/{grant}/token`` with the person's ID token."""
    from datetime import UTC, datetime

    broker = _Broker(env, caller)
    status, body = broker.call("POST", f"/api/v1/requests/{grant}/token")
    if status == 409:
        raise PluginError(_not_active(broker, grant, _message(body, status)), EXIT_REFUSED)
    if status == 401:
        message = _message(body, status)
        raise PluginError(f"the broker did not accept your ID token ({_whose(caller)}): {message}", EXIT_REFUSED)
    if status >= 300:
        from kubejit.domain.errors import error_for_status, exit_code_for

        raise PluginError(_message(body, status), exit_code_for(error_for_status(status)))
    answer = _json(body)
    token = answer.get("token") if isinstance(answer, dict) else None
    expires_at = answer.get("expiresAt") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not _is_token(token) or not isinstance(expires_at, str):
        raise PluginError(f"the broker at {broker.server} did not answer with a grant token", EXIT_UNREACHABLE)
    if answer.get("grant", grant) != grant:
        raise PluginError(f"the broker answered for another grant than {grant}", EXIT_UNREACHABLE)
    try:
        moment = datetime.fromisoformat(expires_at)
    except ValueError:
        raise PluginError(f"the broker's expiresAt {expires_at[:40]!r} is not a time", EXIT_UNREACHABLE) from None
    return token, int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _whose(caller: Caller) -> str:
    if caller.session is None:
        return "KUBEJIT_TOKEN"
    return f"your session's; sign in again with kubejit login --server {caller.server}"


def _not_active(broker: _Broker, grant: str, fallback: str) -> str:
    """Why the broker refused (409): the grant's state, and what to do about it."""
    try:
        status, body = broker.call("GET", f"/api/v1/requests/{grant}")
    except PluginError:
        return fallback
    request = _json(body) if status == 200 else None
    state = request.get("state") if isinstance(request, dict) else None
    if state == "pending":
        return f"grant {grant} is pending: it needs approval first (see kubejit get {grant})"
    if state == "approved":
        return f"grant {grant} is approved but not active yet: try again in a few seconds"
    if state in _ENDED:
        return f"grant {grant} is {state}: request access again with kubejit request"
    if state == "active":
        return f"grant {grant} has ended: request access again with kubejit request"
    return fallback


def _message(body: bytes, status: int) -> str:
    """The broker's error message (never the body itself: it is not shown unless it is kubejit's error shape)."""
    document = _json(body)
    error = document.get("error") if isinstance(document, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str) and message:
        return message[:300]
    return f"the broker answered HTTP {status}"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


class _Broker:
    """Where the broker is and how to reach it: ``KUBEJIT_SERVER`` (or the last login's), ``KUBEJIT_CA``; plain
    HTTP only on loopback. The ID token is the caller's (a session's is renewed here if due)."""

    def __init__(self, env: Mapping[str, str], caller: Caller) -> None:
        from kubejit.transport import NOT_AN_HTTP_URL, PLAIN_HTTP_OFF_LOOPBACK, url_problem

        server = caller.server
        if not server:
            raise PluginError(
                "say which broker to use: set KUBEJIT_SERVER (or sign in once with kubejit login --server URL)",
                EXIT_USAGE,
            )
        problem = url_problem(server)
        if problem == NOT_AN_HTTP_URL:
            raise PluginError(
                f"KUBEJIT_SERVER {server[:200]!r} must be an https:// URL (or http:// for a broker on this machine)",
                EXIT_USAGE,
            )
        if problem == PLAIN_HTTP_OFF_LOOPBACK:
            raise PluginError(
                f"KUBEJIT_SERVER {server[:200]!r}: your ID token would travel in clear text; use https:// "
                "(plain http is accepted only for a broker on this machine)",
                EXIT_USAGE,
            )
        self.server = server.rstrip("/")
        self.https = server.lower().startswith("https:")
        self.ca_file = env.get("KUBEJIT_CA") or None
        self._id_token = caller.id_token()

    def call(self, method: str, path: str) -> tuple[int, bytes]:
        """The status and body of one request; redirects are not followed (they would carry the ID token)."""
        import urllib.error
        import urllib.request
        from http.client import HTTPException

        from kubejit import __version__

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *_: Any, **__: Any) -> None:
                return None

        handlers: list[urllib.request.BaseHandler] = [NoRedirect()]
        if self.https:
            from kubejit.transport import TrustError, trust_context

            try:
                context = trust_context(cafile=self.ca_file)
            except TrustError as error:
                raise PluginError(f"KUBEJIT_CA {self.ca_file!r}: {error}", EXIT_USAGE) from None
            handlers.append(urllib.request.HTTPSHandler(context=context))
        else:
            handlers.append(urllib.request.ProxyHandler({}))  # a loopback broker: the ID token stays on this machine
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(  # noqa: S310  (the scheme is checked in __init__: http or https only)
            self.server + path,
            data=b"" if method == "POST" else None,
            method=method,
            headers={
                "Authorization": f"Bearer {self._id_token}",
                "Accept": "application/json",
                "User-Agent": f"kubejit-token/{__version__}",
            },
        )
        try:
            with opener.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return response.status, response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read(MAX_RESPONSE_BYTES)
        except urllib.error.URLError as error:
            reason = error.reason if isinstance(error.reason, str) else _reason(error.reason)
            raise PluginError(f"cannot reach the kubejit broker at {self.server}: {reason}", EXIT_UNREACHABLE) from None
        except (OSError, HTTPException) as error:
            raise PluginError(
                f"cannot reach the kubejit broker at {self.server}: {_reason(error)}", EXIT_UNREACHABLE
            ) from None


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
