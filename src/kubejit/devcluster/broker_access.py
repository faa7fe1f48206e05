"""Give a broker on the dev control plane exactly the access a real installation would give it.

The tests and ``kubejit demo`` must not run the broker as the cluster admin, or a missing permission in the
install manifests would go unnoticed. :func:`install_broker_access` applies :func:`broker_rbac` for a policy
with the admin kubeconfig (real ``kubectl apply``), asks for a ServiceAccount token through the TokenRequest
API (``kubectl create token``), and writes a kubeconfig that authenticates as that ServiceAccount.
:func:`install_broker_identity` applies the same RBAC and gives the broker that ServiceAccount the way a pod has
it instead (a mounted-token directory and ``KUBERNETES_SERVICE_HOST``; see :mod:`kubejit.devcluster.in_cluster`).
"""

from __future__ import annotations

from pathlib import Path

from kubejit.adapters.kube.install import (
    BROKER_ROLE,
    DEFAULT_NAMESPACE,
    DEFAULT_SERVICE_ACCOUNT,
    broker_rbac,
    render_yaml,
)
from kubejit.devcluster import configfiles
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.in_cluster import InClusterIdentity, request_token, service_account_identity
from kubejit.domain.errors import Unavailable
from kubejit.domain.policy import AccessPolicy

CREDENTIAL_VALIDITY = "24h"  # how long the broker kubeconfig works


def install_broker_access(
    cluster: DevCluster,
    policy: AccessPolicy,
    out: Path,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    role_name: str = BROKER_ROLE,
) -> Path:
    """Apply the broker's least-privilege RBAC for ``policy`` and write its kubeconfig to ``out`` (mode 0600).

    Tests that must not disturb a broker installed with the defaults pass their own ``namespace`` and
    ``role_name``.
    """
    apply_broker_rbac(cluster, policy, namespace=namespace, service_account=service_account, role_name=role_name)
    token = request_token(cluster, namespace, service_account, CREDENTIAL_VALIDITY)
    user = f"system:serviceaccount:{namespace}:{service_account}"
    document = configfiles.kubeconfig(
        cluster.server_url, cluster.ca.cert_pem, user, configfiles.token_credentials(token)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # so the file is created afresh with mode 0600
    return configfiles.write_yaml(out, document, private=True)


def install_broker_identity(
    cluster: DevCluster,
    policy: AccessPolicy,
    directory: Path,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    role_name: str = BROKER_ROLE,
) -> InClusterIdentity:
    """Apply the broker's least-privilege RBAC for ``policy`` and write its ServiceAccount's mounted-token
    directory (a bound token from TokenRequest, the cluster CA, the namespace) into ``directory``."""
    apply_broker_rbac(cluster, policy, namespace=namespace, service_account=service_account, role_name=role_name)
    return service_account_identity(cluster, namespace, service_account, directory)


def apply_broker_rbac(
    cluster: DevCluster, policy: AccessPolicy, *, namespace: str, service_account: str, role_name: str
) -> None:
    """``kubectl apply`` :func:`broker_rbac` for ``policy``, as the admin."""
    manifests = render_yaml(
        broker_rbac(policy, namespace=namespace, service_account=service_account, role_name=role_name)
    )
    applied = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input_text=manifests)
    if applied.returncode != 0:
        raise Unavailable(f"applying the broker's RBAC failed:\n{applied.stderr.strip()}")
