"""The gateway's header policy: what a client may not send to kube-apiserver (credentials, impersonation,
hop-by-hop smuggling) and what the gateway adds in their place."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import pytest

from kubejit.adapters.kube.upstream import Upstream
from kubejit.domain.errors import InvalidInput, Unauthenticated
from kubejit.domain.grant_book import ActiveGrant
from kubejit.domain.guardrails import Decision, Effect
from kubejit.entrypoints.gateway._headers import bearer_token, check_headers, forward_headers, response_headers
from kubejit.services.gateway_access import Allowed

GRANT = ActiveGrant("g1", "alice", frozenset(), "ops", ("a",), datetime(2030, 1, 1, tzinfo=UTC))
UPSTREAM = Upstream("10.0.0.1", 6443, ssl.create_default_context(), bearer="gateway-credential")


def allowed(user: str = "oidc:alice", groups: tuple[str, ...] = ("oidc:devs",), *warnings: str) -> Allowed:
    return Allowed(GRANT, Decision(Effect.WARN if warnings else Effect.ALLOW, warnings=warnings), user, groups)


def test_a_connection_header_naming_another_header_is_refused() -> None:
    with pytest.raises(InvalidInput, match="impersonate-user"):
        check_headers([(b"connection", b"keep-alive, Impersonate-User")])


def test_an_upgrade_needs_one_protocol_and_connection_upgrade() -> None:
    assert check_headers([(b"connection", b"Upgrade"), (b"upgrade", b"websocket")]) == (b"websocket", False)
    with pytest.raises(InvalidInput, match="exactly one protocol"):
        check_headers([(b"upgrade", b"websocket")])
    with pytest.raises(InvalidInput, match="exactly one protocol"):
        check_headers([(b"connection", b"upgrade"), (b"upgrade", b"websocket"), (b"upgrade", b"SPDY/3.1")])


def test_connection_close_is_reported() -> None:
    assert check_headers([(b"connection", b"close")]) == (None, True)
    assert check_headers([]) == (None, False)


def test_exactly_one_bearer_token_is_accepted() -> None:
    assert bearer_token([(b"authorization", b"Bearer  tok ")]) == "tok"
    with pytest.raises(Unauthenticated, match="exactly one"):
        bearer_token([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")])
    with pytest.raises(Unauthenticated, match="exactly one"):
        bearer_token([])
    with pytest.raises(Unauthenticated, match="only bearer"):
        bearer_token([(b"authorization", b"Basic YWxpY2U6cHc=")])


def test_client_credentials_and_impersonation_are_replaced_by_the_grants() -> None:
    client = [
        (b"authorization", b"Bearer grant-token"),
        (b"impersonate-user", b"erin"),
        (b"impersonate-group", b"system:masters"),
        (b"x-remote-user", b"erin"),
        (b"host", b"gateway"),
        (b"content-length", b"3"),
        (b"accept", b"application/json"),
    ]
    assert forward_headers(client, allowed(), None, UPSTREAM) == [
        (b"accept", b"application/json"),
        (b"host", b"10.0.0.1:6443"),
        (b"authorization", b"Bearer gateway-credential"),
        (b"impersonate-user", b"oidc:alice"),
        (b"impersonate-group", b"oidc:devs"),
    ]


def test_an_upgrade_is_forwarded_as_one() -> None:
    forwarded = forward_headers([(b"upgrade", b"websocket")], allowed(), b"websocket", UPSTREAM)
    assert forwarded[-2:] == [(b"connection", b"Upgrade"), (b"upgrade", b"websocket")]


def test_a_cluster_user_that_cannot_be_a_header_value_is_refused() -> None:
    with pytest.raises(InvalidInput, match="cannot be sent in a header"):
        forward_headers([], allowed("alice\r\nImpersonate-Group: system:masters"), None, UPSTREAM)


def test_responses_lose_hop_by_hop_headers_and_carry_the_guardrails_warnings() -> None:
    upstream = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked"), (b"content-length", b"2")]
    assert response_headers(upstream, ["careful\nnow"]) == [
        (b"content-type", b"application/json"),
        (b"content-length", b"2"),
        (b"warning", b'299 kubejit "careful now"'),
    ]
