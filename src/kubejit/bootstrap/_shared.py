"""What the broker and the gateway build the same way from their config: the Kubernetes client, the ID-token
verifier for the configured OIDC issuers, and the policy file loaded and checked against those issuers.

Why it exists: both wirings (``_broker_wiring`` and ``_gateway_wiring``) call these, so the two processes read
credentials, issuers and the policy alike; ``kubejit audit checkpoint --init`` uses :func:`kube_client` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kubejit.adapters.idp import OidcIssuer, OidcVerifier
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.policy_file import load_policy_file
from kubejit.config import KubernetesConfig, OidcIssuerConfig
from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import AccessPolicy, claims_kept_by_nobody
from kubejit.ports import Clock

if TYPE_CHECKING:
    from lightkube import Client


def oidc_verifier(issuers: Sequence[OidcIssuerConfig], *, clock: Clock | None = None) -> OidcVerifier:
    """The ID-token verifier for the configured issuers (the broker's, and optionally a gateway's)."""
    return OidcVerifier(
        [
            OidcIssuer(
                url=i.issuer,
                audience=i.audience,
                ca_pem=i.ca_file.read_bytes() if i.ca_file else None,
                username_claim=i.username_claim,
                groups_claim=i.groups_claim,
                clock_skew=i.clock_skew,
                username_prefix=i.username_prefix,
                groups_prefix=i.groups_prefix,
                policy_claims=tuple(i.policy_claims),
                discovery_url=i.discovery_url,
            )
            for i in issuers
        ],
        clock=clock,
    )


def policy_for_issuers(policy_file: Path, issuers: Sequence[OidcIssuerConfig]) -> AccessPolicy:
    """The policy file, loaded and checked against the configured issuers (at start and at every reload): when
    the issuers put prefixes before their names, the policy's names already are the cluster's, so its own
    ``spec.identity`` prefixes must be empty (or every name would be prefixed twice); and every claim its rules
    name must be kept by some issuer."""
    policy = load_policy_file(policy_file)
    prefixed = [i for i in issuers if i.username_prefix or i.groups_prefix]
    mapping = policy.identity
    if prefixed and (mapping.username_prefix or mapping.groups_prefix):
        shown = ", ".join(
            f"{i.name!r} (usernamePrefix {i.username_prefix!r}, groupsPrefix {i.groups_prefix!r})" for i in prefixed
        )
        raise InvalidInput(
            f"{policy_file}: spec.identity sets usernamePrefix {mapping.username_prefix!r} and groupsPrefix "
            f"{mapping.groups_prefix!r}, but the broker config's OIDC issuers set their own prefixes ({shown}), "
            "which already make the names the cluster sees: remove spec.identity from the policy and write the "
            "prefixed names (e.g. staff:alice) in its subjects"
        )
    unkept = claims_kept_by_nobody(policy, (name for i in issuers for name in i.policy_claims))
    if unkept:
        raise InvalidInput(f"{policy_file}: " + "; ".join(f"{issue.path}: {issue.message}" for issue in unkept))
    return policy


def kube_client(settings: KubernetesConfig, *, field_manager: str) -> Client:
    """The Kubernetes client of the broker or the gateway: from ``kubernetes.kubeconfig``, else (in a pod) from
    the ServiceAccount in ``kubernetes.serviceAccountDir``."""
    return make_client(
        settings.kubeconfig, service_account_dir=settings.service_account_dir, field_manager=field_manager
    )
