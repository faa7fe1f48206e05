"""The one place where concrete adapters are chosen and wired into the services: the running broker and the
gateway's parts.

:func:`build_broker` turns a :class:`~kubejit.config.BrokerConfig` into a :class:`Broker`: storage
(migrated), the cluster adapters with the broker's own least-privilege credentials, leader election, the
audit checkpoint store, OIDC verification, notifications, the policy (loaded and reviewed against the
cluster: a policy with refused profiles does not start), and the services and threads on top of them.

:func:`build_gateway` turns a :class:`~kubejit.config.GatewayConfig` into :class:`GatewayParts`: the policy
(reviewed against the cluster, each profile's rules resolved once), the grant book and the access check on it,
the OIDC verifier if one is configured, and the authentication built from the broker's keys. The gateway's
entrypoint (``entrypoints/gateway/main.py``) adds what sits in the entrypoint layer (the broker link, the
kube-apiserver client, the open-stream registry and the proxy) and runs it.

Behind this API: ``_broker`` (the :class:`Broker` object and its :class:`AuditSignal`), ``_broker_wiring``
(:func:`build_broker` and its helpers), ``_gateway_wiring`` (:func:`build_gateway` and :class:`GatewayParts`)
and ``_shared`` (the Kubernetes client, OIDC verifier and issuer-checked policy both of them build).
"""

from kubejit.bootstrap._broker import AuditSignal, Broker
from kubejit.bootstrap._broker_wiring import build_broker, checkpoint_store
from kubejit.bootstrap._gateway_wiring import GatewayParts, build_gateway
from kubejit.bootstrap._shared import kube_client, policy_for_issuers

__all__ = [
    "AuditSignal",
    "Broker",
    "GatewayParts",
    "build_broker",
    "build_gateway",
    "checkpoint_store",
    "kube_client",
    "policy_for_issuers",
]
