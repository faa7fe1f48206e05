"""``kubejit token``: kubectl's exec credential plugin, kept to the standard library so that it starts fast.

kubectl runs an exec plugin once per kubectl process and keeps nothing between processes, so the plugin's
start-up is paid on every kubectl command. ``main.main()`` hands ``token`` to this module before Typer, Rich,
httpx or pydantic are imported. On the warm path (a cached grant token still valid for 30 seconds or more) it
needs only os, stat, sys, time, json and hashlib; urllib, ssl and datetime are imported only when the broker has to
be asked. Even ``typing`` stays out (it alone costs milliseconds).

The cache is one file per grant (``$XDG_CACHE_HOME/kubejit/tokens/<grant>.json``, directory 0700, file 0600,
replaced atomically). Each entry is bound to the ID token it was obtained with (by its SHA-256), so another
identity in the same account never gets it. A grant token never outlives its grant, and the gateway refuses a
revoked grant's tokens itself, so serving one from the cache never widens access.

``KUBERNETES_EXEC_INFO`` (what kubectl tells the plugin) is not needed: the answer does not depend on the
cluster, and the plugin never prompts nor reads stdin, so it works where kubectl has no terminal. Errors are
one line on stderr with the CLI's exit codes; a token is written nowhere but the ExecCredential on stdout.
"""

# os.path rather than pathlib: importing pathlib would slow the warm path down (see the docstring).
# ruff: noqa: PTH101, PTH103, PTH105, PTH108, PTH111, PTH116, PTH117, PTH118, PTH119, PTH120

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time

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

  Print an ExecCredential (client.authentication.k8s.io/v1) for kubectl: a short-lived token for your active
  grant, served from a per-grant cache while it stays valid for 30 seconds or more, otherwise asked from the
  broker. kubectl runs it for every command; `kubejit kubeconfig --grant ID` writes a kubeconfig that does.

  --grant ID   the grant (request id, req-...); default: $KUBEJIT_GRANT
  -h, --help   show this message

  Environment: KUBEJIT_SERVER (the broker), KUBEJIT_TOKEN (your ID token), KUBEJIT_CA (CA bundle for an HTTPS
  broker), XDG_CACHE_HOME (the cache lives in $XDG_CACHE_HOME/kubejit/tokens, by default ~/.cache/...).
"""

_GRANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_TOKEN_CHARS = _GRANT_CHARS | {"."}  # a JWS in compact form: base64url segments joined by dots
_ENDED = ("expired", "revoked", "denied", "cancelled", "timed-out")


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
        grant = parse_args(args, env)
        if grant is None:
            out.write(USAGE)
            return EXIT_OK
        token, expires = credential(grant, env, warn=err)
    except PluginError as error:
        err.write(f"kubejit token: {error}\n")
        return error.code
    out.write(exec_credential(token, expires) + "\n")
    out.flush()
    return EXIT_OK


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


def credential(grant: str, env: Mapping[str, str], *, warn: IO[str] | None = None) -> tuple[str, int]:
    """A grant token and its expiry (Unix seconds): from the cache if it stays valid long enough, else the broker's.

    A new token is cached; if the cache cannot be written, the token is still returned and ``warn`` says why.
    """
    id_token = env.get("KUBEJIT_TOKEN", "").strip()
    if not id_token:
        raise PluginError(
            "say who you are: set KUBEJIT_TOKEN (an ID token from your IdP) in the environment kubectl runs in",
            EXIT_USAGE,
        )
    owner = hashlib.sha256(id_token.encode()).hexdigest()
    path = os.path.join(cache_dir(env), f"{grant}.json")
    cached = read_cache(path, owner, time.time())
    if cached is not None:
        return cached
    token, expires = fetch(grant, env, id_token)
    try:
        write_cache(path, {"grant": grant, "owner": owner, "expires": expires, "token": token})
    except OSError as error:
        if warn is not None:
            warn.write(f"kubejit token: warning: cannot cache the token in {os.path.dirname(path)}: {error.strerror}\n")
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
    base = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kubejit", "tokens")


def read_cache(path: str, owner: str, now: float) -> tuple[str, int] | None:
    """The cached token and its expiry if it is ours and valid for MIN_REMAINING_SECONDS more; else None.

    A file that is not ours alone (another owner, group or world bits, a symlink), unreadable or malformed is a
    miss: the broker is asked and the file replaced.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_mode & 0o077:
            return None
        if hasattr(os, "getuid") and status.st_uid != os.getuid():
            return None
        entry = json.loads(os.read(descriptor, MAX_TOKEN_BYTES + 1024))
    except (OSError, ValueError):
        return None
    finally:
        os.close(descriptor)
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
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    status = os.stat(directory)
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        raise PermissionError(1, "the directory belongs to another user")
    if status.st_mode & 0o777 != 0o700:
        os.chmod(directory, 0o700)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(entry, handle)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def _is_token(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_BYTES and set(token) <= _TOKEN_CHARS


# ---- the broker ------------------------------------------------------------------------------------------------


def fetch(grant: str, env: Mapping[str, str], id_token: str) -> tuple[str, int]:
    """Ask the broker for a grant token: ``POST /api/v1/requests/{grant}/token`` with the person's ID token."""
    from datetime import UTC, datetime

    broker = _Broker(env, id_token)
    status, body = broker.call("POST", f"/api/v1/requests/{grant}/token")
    if status == 409:
        raise PluginError(_not_active(broker, grant, _message(body, status)), EXIT_REFUSED)
    if status == 401:
        message = _message(body, status)
        raise PluginError(f"the broker did not accept your ID token (KUBEJIT_TOKEN): {message}", EXIT_REFUSED)
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
    """Where the broker is and how to reach it: ``KUBEJIT_SERVER``, ``KUBEJIT_CA``; plain HTTP only on loopback."""

    def __init__(self, env: Mapping[str, str], id_token: str) -> None:
        from kubejit.transport import NOT_AN_HTTP_URL, PLAIN_HTTP_OFF_LOOPBACK, url_problem

        server = env.get("KUBEJIT_SERVER", "").strip()
        if not server:
            raise PluginError("say which broker to use: set KUBEJIT_SERVER", EXIT_USAGE)
        problem = url_problem(server)
        if problem == NOT_AN_HTTP_URL:
            raise PluginError(f"KUBEJIT_SERVER {server[:200]!r} must be an https:// URL", EXIT_USAGE)
        if problem == PLAIN_HTTP_OFF_LOOPBACK:
            raise PluginError(
                f"KUBEJIT_SERVER {server[:200]!r}: your ID token would travel in clear text; use https:// "
                "(plain http is accepted only for a broker on this machine)",
                EXIT_USAGE,
            )
        self.server = server.rstrip("/")
        self.https = server.lower().startswith("https:")
        self.ca_file = env.get("KUBEJIT_CA") or None
        self._id_token = id_token

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
