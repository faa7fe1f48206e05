"""The files a dev control plane is configured with, and the kubeconfigs it hands out.

Pure builders of YAML documents: the AuthenticationConfiguration that makes kube-apiserver trust the dev
OIDC issuer (and any extra issuers, such as the test rig's Keycloak), the audit policy and optional audit
webhook, kube-scheduler's configuration, and self-contained kubeconfigs (credentials embedded) for the admin
certificate, kube-scheduler's certificate and each dev user's ID token.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubejit.devcluster.oidc import GROUPS_CLAIM, USERNAME_CLAIM

CLUSTER_NAME = "kubejit-dev"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_yaml(path: Path, document: dict[str, Any], *, private: bool = False) -> Path:
    if private:
        path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def kubeconfig(server: str, ca_pem: bytes, user: str, credentials: dict[str, str]) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user and one current context."""
    context = f"{user}@{CLUSTER_NAME}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": context,
    }


def client_cert_credentials(cert_pem: bytes, key_pem: bytes) -> dict[str, str]:
    return {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}


def token_credentials(token: str) -> dict[str, str]:
    return {"token": token}


@dataclass(frozen=True)
class TrustedIssuer:
    """Another OIDC issuer kube-apiserver trusts beside the dev issuer (one ``jwt[]`` entry), e.g. Keycloak."""

    url: str
    ca_pem: bytes
    audience: str
    username_claim: str = "sub"
    username_prefix: str = ""
    groups_claim: str = "groups"
    groups_prefix: str = ""


def jwt_authenticator(issuer: TrustedIssuer) -> dict[str, Any]:
    """One ``jwt[]`` entry of an AuthenticationConfiguration, mapping names and groups with the given prefixes."""
    return {
        "issuer": {"url": issuer.url, "audiences": [issuer.audience], "certificateAuthority": issuer.ca_pem.decode()},
        "claimMappings": {
            "username": {"claim": issuer.username_claim, "prefix": issuer.username_prefix},
            "groups": {"claim": issuer.groups_claim, "prefix": issuer.groups_prefix},
        },
    }


def authentication_configuration(
    issuer_url: str, audience: str, issuer_ca_pem: bytes, extra_issuers: Sequence[TrustedIssuer] = ()
) -> dict[str, Any]:
    """Structured authentication: trust ID tokens of the dev issuer, names and groups without prefixes,
    and of each of ``extra_issuers`` with its own claims and prefixes."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": [
            {
                "issuer": {
                    "url": issuer_url,
                    "audiences": [audience],
                    "certificateAuthority": issuer_ca_pem.decode(),
                },
                "claimMappings": {
                    "username": {"claim": USERNAME_CLAIM, "prefix": ""},
                    "groups": {"claim": GROUPS_CLAIM, "prefix": ""},
                },
            },
            *(jwt_authenticator(extra) for extra in extra_issuers),
        ],
    }


SERVICE_ACCOUNT_DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/openid/v1/jwks")


def anonymous_service_account_discovery() -> dict[str, Any]:
    """The AuthenticationConfiguration's ``anonymous`` part: anonymous requests only to the ServiceAccount
    issuer's discovery document and key set (so a broker can verify ServiceAccount tokens as an OIDC issuer);
    every other anonymous request is refused with 401."""
    return {"enabled": True, "conditions": [{"path": path} for path in SERVICE_ACCOUNT_DISCOVERY_PATHS]}


def audit_policy() -> dict[str, Any]:
    """Metadata for every request, except the health probes that would flood the log."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*", "/version"]},
            {"level": "Metadata"},
        ],
    }


def audit_webhook_kubeconfig(url: str, ca_pem: bytes) -> dict[str, Any]:
    """kube-apiserver's audit webhook backend is configured with a kubeconfig naming the receiver."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "audit-sink", "cluster": {"server": url, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": "kube-apiserver", "user": {}}],
        "contexts": [{"name": "audit", "context": {"cluster": "audit-sink", "user": "kube-apiserver"}}],
        "current-context": "audit",
    }


def scheduler_configuration(kubeconfig_path: Path) -> dict[str, Any]:
    """kube-scheduler's KubeSchedulerConfiguration: its own kubeconfig, and no leader election (one instance)."""
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig_path)},
        "leaderElection": {"leaderElect": False},
    }
