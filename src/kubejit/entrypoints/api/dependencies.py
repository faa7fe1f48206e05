"""What the routes share: the broker, the caller's verified identity, an authenticated gateway, the gateway feed.

Every route module (``routes/*``) declares these as FastAPI dependencies, e.g. ``who: Caller``. The broker is
the one ``create_app`` put in ``app.state``; routes never build or import one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request

from kubejit.domain.errors import NotFound, Unauthenticated
from kubejit.domain.policy import Identity
from kubejit.services.gateway_feed import GatewayFeed, require_gateway

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

NO_GATEWAY = "this broker has no gateway configured"


def broker_of(request: Request) -> Broker:
    """The broker this app serves (``create_app`` keeps it in ``app.state``)."""
    broker: Broker = request.app.state.broker
    return broker


BrokerDep = Annotated["Broker", Depends(broker_of)]


def caller(broker: BrokerDep, authorization: Annotated[str | None, Header()] = None) -> Identity:
    """The identity in the bearer ID token, verified against the configured issuers."""
    if not authorization:
        raise Unauthenticated("send an ID token: Authorization: Bearer <token> (or set KUBEJIT_TOKEN for the CLI)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <ID token>'")
    return broker.verifier.verify(token.strip())


Caller = Annotated[Identity, Depends(caller)]


def gateway_caller(broker: BrokerDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """A kubejit gateway, authenticated by the shared secret whose hash the broker's config holds."""
    expected = broker.config.gateway.client_token_sha256 if broker.config.gateway else None
    scheme, _, secret = (authorization or "").partition(" ")
    return require_gateway(secret.strip() if scheme.lower() == "bearer" else None, expected)


GatewayCaller = Annotated[str, Depends(gateway_caller)]


def gateway_feed(broker: BrokerDep) -> GatewayFeed:
    """The broker's side of the gateway; 404 when no gateway is configured."""
    if broker.gateway is None:
        raise NotFound(NO_GATEWAY)
    return broker.gateway


Feed = Annotated[GatewayFeed, Depends(gateway_feed)]
