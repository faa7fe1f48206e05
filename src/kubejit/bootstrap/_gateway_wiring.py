"""How the gateway's parts are put together: :func:`build_gateway` turns a :class:`~kubejit.config.GatewayConfig`
into :class:`GatewayParts`: the policy (reviewed against the cluster, each profile's rules resolved once), the
grant book and the access check on it, the open-stream registry, the link to the broker, kube-apiserver as the
gateway's proxy leg reaches it, and the OIDC verifier if one is configured.

Why it exists: this is the one place where the gateway's concrete adapters are chosen. The gateway's
entrypoint (``entrypoints/gateway/main.py``) adds what sits in the entrypoint layer (the proxy on top of these
parts) and runs it.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any

from kubejit.adapters.broker_link import BrokerLink
from kubejit.adapters.clock import SystemClock
from kubejit.adapters.grant_tokens import GrantTokenVerifier
from kubejit.adapters.idp import OidcVerifier
from kubejit.adapters.kube.role_rules import ClusterRoleRules
from kubejit.adapters.kube.upstream import Upstream
from kubejit.adapters.kube.upstream_config import upstream_from_kubeconfig, upstream_in_cluster
from kubejit.adapters.policy_file import load_policy_file
from kubejit.bootstrap._shared import kube_client, oidc_verifier, policy_for_issuers
from kubejit.config import GatewayConfig, KubernetesConfig
from kubejit.domain.errors import InvalidInput
from kubejit.domain.grant_book import GrantBook
from kubejit.domain.policy import AccessPolicy, Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.ports import Clock
from kubejit.services.gateway_access import GatewayAccess
from kubejit.services.gateway_authentication import GatewayAuthentication, VerifiedGrantTokens
from kubejit.services.gateway_sessions import Sessions
from kubejit.services.policy_review import require_usable, review_policy
from kubejit.transport import TrustError, trust_context

gateway_log = logging.getLogger("kubejit.gateway")


@dataclass(frozen=True)
class GatewayParts:
    """What the gateway is made of below its entrypoint: built by :func:`build_gateway`, nothing started.

    The entrypoint (``entrypoints/gateway/main.py``) puts the proxy on top of these parts, starts the link's
    tasks and the cut-off loop, and serves."""

    config: GatewayConfig
    policy: AccessPolicy
    book: GrantBook  # the active grants as the broker link reports them
    access: GatewayAccess
    sessions: Sessions  # the open streams, cut when their grant ends
    link: BrokerLink  # grant stream, public keys and activity, to and from the broker
    upstream: Upstream  # kube-apiserver, with the gateway's own credentials
    id_tokens: OidcVerifier | None
    clock: Clock

    def authentication(self, public_keys: dict[str, Any]) -> GatewayAuthentication:
        """How bearer tokens are checked, once the broker's public keys (for grant tokens) are known."""
        return GatewayAuthentication(VerifiedGrantTokens(GrantTokenVerifier(public_keys)), self.id_tokens)


def build_gateway(config: GatewayConfig, *, clock: Clock | None = None) -> GatewayParts:
    """The gateway's policy (reviewed: a policy with refused profiles does not start), its profiles' rules
    resolved from the cluster once, the grant book and the access check on it, the open-stream registry, the
    link to the broker (which closes a grant's streams when the broker says it ended), kube-apiserver as the
    gateway's kubeconfig names it, and the OIDC verifier if one is configured."""
    # Without issuers of its own the gateway honours the broker's grants only, whose names the broker checked.
    policy = (
        policy_for_issuers(config.policy_file, config.oidc) if config.oidc else load_policy_file(config.policy_file)
    )
    role_rules = ClusterRoleRules(kube_client(config.kubernetes, field_manager="kubejit-gateway"))
    require_usable(review_policy(policy, role_rules))
    resolved: dict[str, tuple[PolicyRule, ...]] = {p.name: role_rules.rules_of(p.role) or () for p in policy.profiles}

    def rules(profile: Profile) -> tuple[PolicyRule, ...]:
        return resolved.get(profile.name, ())

    book = GrantBook(config.broker.max_staleness)
    sessions = Sessions()

    def close_sessions(grant: str, reason: str) -> None:
        closed = sessions.close_grant(grant, reason)
        if closed:
            gateway_log.info("closed %d open stream(s) of grant %s: %s", closed, grant, reason)

    link = BrokerLink(
        url=config.broker.url.rstrip("/"),
        client_token=config.broker.client_token_file.read_text().strip(),
        verify=_broker_trust(config),
        book=book,
        on_gone=close_sessions,
        on_listed=sessions.listed,
        gateway_name=config.name,
        fail_closed=config.audit.fail_mode == "closed",
        max_delay=config.audit.max_delay,
    )
    return GatewayParts(
        config=config,
        policy=policy,
        book=book,
        access=GatewayAccess(lambda: policy, rules, book, console_url=config.broker.console_url),
        sessions=sessions,
        link=link,
        upstream=gateway_upstream(config.kubernetes),
        id_tokens=oidc_verifier(config.oidc) if config.oidc else None,
        clock=clock or SystemClock(),
    )


def gateway_upstream(settings: KubernetesConfig) -> Upstream:
    """kube-apiserver as the gateway's proxy leg reaches it, with the same credentials as :func:`kube_client`."""
    if settings.kubeconfig is not None:
        return upstream_from_kubeconfig(settings.kubeconfig)
    return upstream_in_cluster(settings.service_account_dir)


def _broker_trust(config: GatewayConfig) -> ssl.SSLContext | bool:
    """What the broker's TLS certificate is checked against: the configured CA file, else the system's CAs."""
    if config.broker.ca_file is None:
        return True
    try:
        return trust_context(cafile=config.broker.ca_file)
    except TrustError as error:
        raise InvalidInput(f"gateway config broker.caFile {config.broker.ca_file}: {error}") from None
