"""The names the gateway impersonates are checked once more as sent (prefix + name), whatever the grant says."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import pytest

from kubejit.adapters.kube.upstream import Upstream
from kubejit.domain.errors import Refused
from kubejit.domain.grant_book import ActiveGrant
from kubejit.domain.guardrails import Decision, Effect
from kubejit.entrypoints.gateway._headers import forward_headers
from kubejit.services.gateway_access import Allowed

GRANT = ActiveGrant("g1", "alice", frozenset(), "ops", ("a",), datetime(2030, 1, 1, tzinfo=UTC))
UPSTREAM = Upstream("10.0.0.1", 6443, ssl.create_default_context(), bearer="gateway-credential")


def allowed(user: str, groups: tuple[str, ...] = ()) -> Allowed:
    return Allowed(GRANT, Decision(Effect.ALLOW), user, groups)


@pytest.mark.parametrize(
    ("user", "groups", "problem"),
    [
        ("system:admin", (), "cluster user 'system:admin' is in the system: namespace"),
        (" alice", (), "starts or ends with whitespace"),
        ("alice\u200b", (), "U+200B"),
        ("alice", ("devs", "System:Masters"), "cluster group 'System:Masters' is in the system: namespace"),
        ("alice", ("devs\u00a0",), "cluster group 'devs\\xa0'"),
    ],
)
def test_a_name_kubejit_refuses_is_never_impersonated(user: str, groups: tuple[str, ...], problem: str) -> None:
    with pytest.raises(Refused, match="grant g1 cannot be used") as refused:
        forward_headers([], allowed(user, groups), None, UPSTREAM)
    assert problem in str(refused.value)


def test_acceptable_names_are_impersonated() -> None:
    headers = forward_headers([], allowed("oidc:alice", ("oidc:Payments Devs",)), None, UPSTREAM)
    assert (b"impersonate-user", b"oidc:alice") in headers
    assert (b"impersonate-group", b"oidc:Payments Devs") in headers
