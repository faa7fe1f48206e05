"""Which headers the gateway accepts, drops, adds and passes on: the policy that keeps a client from speaking
to kube-apiserver with anything but the identity its grant gives it.

A client's ``Authorization``, ``Impersonate-*`` and ``X-Remote-*`` headers are never forwarded; a
``Connection`` header naming any other header is refused (hop-by-hop smuggling: ``Connection:
Impersonate-User``); exactly one ``Authorization: Bearer`` is accepted; what the gateway adds upstream
(impersonation from the grant) must be safe to write into a header line. The connection handler and the
forwarding code call these functions once per request.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from kubejit.adapters.kube.upstream import Upstream, header_safe
from kubejit.domain.errors import InvalidInput, Refused, Unauthenticated
from kubejit.domain.identity_names import group_name_problem, quoted, user_name_problem
from kubejit.entrypoints.gateway.response_framing import header_text
from kubejit.services.gateway_access import Allowed

Headers = list[tuple[bytes, bytes]]

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"expect",  # the gateway reads the whole body before it forwards: nothing upstream waits for a 100
    }
)
_HOP_BY_HOP_RESPONSE = _HOP_BY_HOP - {b"content-length"}
_CONNECTION_TOKENS = frozenset({"keep-alive", "close", "upgrade"})
_STRIPPED_PREFIXES = (b"impersonate-", b"x-remote-")


def check_headers(headers: Headers) -> tuple[bytes | None, bool]:
    """Refuse hop-by-hop tricks; return the Upgrade protocol if this is an upgrade request, and whether the
    client asked to close the connection after this request. ``headers`` have lower-case names."""
    tokens: set[str] = set()
    for name, value in headers:
        if name == b"connection":
            tokens |= {t.strip().lower() for t in value.decode("latin-1").split(",") if t.strip()}
    smuggled = tokens - _CONNECTION_TOKENS
    if smuggled:
        raise InvalidInput(
            f"the Connection header names {', '.join(sorted(smuggled))}: the gateway refuses hop-by-hop "
            "headers other than keep-alive, close and upgrade"
        )
    upgrades = [value for name, value in headers if name == b"upgrade"]
    if "upgrade" in tokens and len(upgrades) == 1:
        return upgrades[0], "close" in tokens
    if upgrades:
        raise InvalidInput("an Upgrade header needs exactly one protocol and Connection: Upgrade")
    return None, "close" in tokens


def bearer_token(headers: Headers) -> str:
    """The one bearer token the request carries (a grant token or an ID token); Unauthenticated otherwise."""
    values = [value for name, value in headers if name == b"authorization"]
    if len(values) != 1:
        raise Unauthenticated(
            "send exactly one Authorization: Bearer token (use a kubeconfig from `kubejit kubeconfig --grant ID`)"
        )
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the gateway accepts only bearer tokens (a grant token or an ID token)")
    return token.strip()


def forward_headers(headers: Headers, allowed: Allowed, upgrade: bytes | None, upstream: Upstream) -> Headers:
    """The request headers sent to kube-apiserver: the client's, less credentials and hop-by-hop ones, plus the
    gateway's own credentials and the impersonation of the grant's cluster user and groups."""
    forwarded = [
        (name, value)
        for name, value in headers
        if name not in _HOP_BY_HOP and name != b"authorization" and not name.startswith(_STRIPPED_PREFIXES)
    ]
    forwarded.append((b"host", f"{upstream.host}:{upstream.port}".encode()))
    token = upstream.bearer  # in a pod, a look at the mounted token file: once per request
    if token:
        forwarded.append((b"authorization", f"Bearer {token}".encode()))
    impersonation = [(b"impersonate-user", allowed.cluster_user.encode())]
    impersonation += [(b"impersonate-group", group.encode()) for group in allowed.cluster_groups]
    if not all(header_safe(value) for _, value in impersonation):
        raise InvalidInput("the grant's user or groups contain characters that cannot be sent in a header")
    problem = _impersonation_problem(allowed.cluster_user, allowed.cluster_groups)
    if problem is not None:
        raise Refused(f"grant {allowed.grant.id} cannot be used: {problem}")
    forwarded += impersonation
    if upgrade is not None:
        forwarded += [(b"connection", b"Upgrade"), (b"upgrade", upgrade)]
    return forwarded


@functools.lru_cache(maxsize=4096)
def _impersonation_problem(user: str, groups: tuple[str, ...]) -> str | None:
    """Why the user or a group the gateway would impersonate is not a name kubejit accepts (checked again here, on
    the values actually sent with the policy's prefixes, although authentication and policy loading already check
    their parts); remembered, so a grant's names are checked once, not on every request."""
    problem = user_name_problem(user)
    if problem is not None:
        return f"its cluster user {quoted(user)} {problem}"
    for group in groups:
        problem = group_name_problem(group)
        if problem is not None:
            return f"its cluster group {quoted(group)} {problem}"
    return None


def response_headers(headers: Headers, warnings: Iterable[str]) -> Headers:
    """kube-apiserver's response headers as passed on: less hop-by-hop ones, plus the guardrails' warnings."""
    out = [(n, v) for n, v in headers if n not in _HOP_BY_HOP_RESPONSE]
    out += [(b"warning", header_text(f'299 kubejit "{w}"')) for w in warnings]
    return out
