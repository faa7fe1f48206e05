"""kube-apiserver's authorization webhook: ``POST /api/v1/authorization/review`` answers a SubjectAccessReview
(authorization.k8s.io/v1) with its ``status`` (allowed, denied, reason).

Only kube-apiserver may call it: it presents the bearer token of its webhook kubeconfig, whose sha256 the broker's
``authorizationWebhook.clientTokenSha256`` holds (401 otherwise; 404 when the mode is off). A body that is not a
v1 review is a 400 (kube-apiserver then applies its failurePolicy: never "allowed"). The decision is
:class:`kubejit.services.authorization_webhook.AuthorizationWebhook`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header

from kubejit.domain.errors import NotFound
from kubejit.entrypoints.api.dependencies import BrokerDep
from kubejit.services.authorization_webhook import AuthorizationWebhook, require_kube_apiserver

REVIEW_PATH = "/api/v1/authorization/review"

router = APIRouter()


def webhook_of(broker: BrokerDep, authorization: Annotated[str | None, Header()] = None) -> AuthorizationWebhook:
    """The webhook service, once the caller proved it is kube-apiserver."""
    settings = broker.config.authorization_webhook
    scheme, _, token = (authorization or "").partition(" ")
    require_kube_apiserver(
        token.strip() if scheme.lower() == "bearer" else None,
        settings.client_token_sha256 if settings is not None else None,
    )
    if broker.authorization is None:  # configured but not built (a broker not made by build_broker)
        raise NotFound("the authorization webhook is not running on this broker")
    return broker.authorization


Webhook = Annotated[AuthorizationWebhook, Depends(webhook_of)]


@router.post(REVIEW_PATH)
def authorization_review(webhook: Webhook, body: Annotated[Any, Body()] = None) -> dict[str, Any]:
    """The review answered: allowed, denied (by a guardrail) or no opinion (RBAC decides)."""
    return webhook.review(body)
