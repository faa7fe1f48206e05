"""kube-apiserver's structured authorization for authorization-webhook mode: kubejit's webhook first, then RBAC.

:class:`AuthorizationWebhook` says where the broker's webhook is (chosen before the cluster starts: the broker
starts after kube-apiserver, which calls the webhook only when a request comes); :func:`authorization_configuration`
writes the AuthorizationConfiguration (apiserver.config.k8s.io/v1) given with ``--authorization-config`` instead of
``--authorization-mode``, and :func:`webhook_kubeconfig` the kubeconfig that names the broker, its CA and the token
kube-apiserver presents. Pure builders, used by :class:`kubejit.devcluster.cluster.DevCluster`; docs/deployment.md
("Authorization webhook") explains each setting.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REVIEW_PATH = "/api/v1/authorization/review"
WEBHOOK_NAME = "kubejit.io"


def _cel_string(value: str) -> str:
    """A CEL string literal (single-quoted, backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class AuthorizationWebhook:
    """kubejit's webhook as kube-apiserver should call it.

    ``user_prefix``: the cluster names of the users kubejit manages start with it (the issuer's usernamePrefix;
    "" asks about every user but those excluded). ``excluded_users``: kubejit's own identities, never asked about
    (a review of the broker's own request would wait on itself). ``system:`` users and ``system:masters`` are never
    sent. Failure and cache settings: see docs/deployment.md."""

    url: str  # the broker's base URL (https in production; plain http only on loopback)
    token: str  # the bearer token kube-apiserver presents; the broker holds its sha256
    ca_pem: bytes | None = None  # the CA of the broker's serving certificate (https)
    user_prefix: str = ""
    excluded_users: tuple[str, ...] = ()
    failure_policy: Literal["Deny", "NoOpinion"] = "Deny"
    timeout: str = "2s"
    cache_authorized: bool = False
    authorized_ttl: str = "1s"  # only when cache_authorized (kube-apiserver requires a value > 0 either way)
    cache_unauthorized: bool = False
    unauthorized_ttl: str = "1s"

    def match_conditions(self) -> list[dict[str, str]]:
        """CEL conditions (all must hold) for kube-apiserver to ask kubejit at all."""
        conditions = [
            "!request.user.startsWith('system:')",
            "!('system:masters' in request.groups)",
        ]
        if self.user_prefix:
            conditions.insert(0, f"request.user.startsWith({_cel_string(self.user_prefix)})")
        conditions += [f"request.user != {_cel_string(user)}" for user in self.excluded_users]
        return [{"expression": expression} for expression in conditions]


def authorization_configuration(webhook: AuthorizationWebhook, kubeconfig_path: Path) -> dict[str, Any]:
    """The AuthorizationConfiguration: kubejit's webhook, then RBAC (a webhook's no opinion falls through to it)."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthorizationConfiguration",
        "authorizers": [
            {
                "type": "Webhook",
                "name": WEBHOOK_NAME,
                "webhook": {
                    "timeout": webhook.timeout,
                    "subjectAccessReviewVersion": "v1",
                    "matchConditionSubjectAccessReviewVersion": "v1",
                    "failurePolicy": webhook.failure_policy,
                    "authorizedTTL": webhook.authorized_ttl,
                    "cacheAuthorizedRequests": webhook.cache_authorized,
                    "unauthorizedTTL": webhook.unauthorized_ttl,
                    "cacheUnauthorizedRequests": webhook.cache_unauthorized,
                    "connectionInfo": {"type": "KubeConfigFile", "kubeConfigFile": str(kubeconfig_path)},
                    "matchConditions": webhook.match_conditions(),
                },
            },
            {"type": "RBAC", "name": "rbac"},
        ],
    }


def webhook_kubeconfig(webhook: AuthorizationWebhook) -> dict[str, Any]:
    """The kubeconfig naming the broker's review endpoint: ``clusters`` is the broker, ``users`` kube-apiserver."""
    cluster: dict[str, str] = {"server": webhook.url.rstrip("/") + REVIEW_PATH}
    if webhook.ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(webhook.ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubejit", "cluster": cluster}],
        "users": [{"name": "kube-apiserver", "user": {"token": webhook.token}}],
        "contexts": [{"name": "webhook", "context": {"cluster": "kubejit", "user": "kube-apiserver"}}],
        "current-context": "webhook",
    }
