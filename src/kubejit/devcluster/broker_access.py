"""Give a broker on the dev control plane exactly the access a real installation would give it.

The tests and ``kubejit demo`` must not run the broker as the cluster admin, or a missing permission in the
install manifests would go unnoticed. :func:`install_broker_access` applies :func:`broker_rbac` for a policy
with the admin kubeconfig (real ``kubectl apply``), asks for a ServiceAccount token through the TokenRequest
API (``kubectl create token``), and writes a kubeconfig that authenticates as that ServiceAccount.
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
    manifests = render_yaml(
        broker_rbac(policy, namespace=namespace, service_account=service_account, role_name=role_name)
    )
    applied = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input_text=manifests)
    if applied.returncode != 0:
        raise Unavailable(f"applying the broker's RBAC failed:\n{applied.stderr.strip()}")
    issued = cluster.kubectl("create", "token", service_account, "-n", namespace, f"--duration={CREDENTIAL_VALIDITY}")
    if issued.returncode != 0:
        # stderr only: stdout would be the token.
        raise Unavailable(f"requesting a token for {namespace}/{service_account} failed: {issued.stderr.strip()}")
    token = issued.stdout.strip()
    if not token:
        raise Unavailable(f"kubectl create token returned no token for {namespace}/{service_account}")
    user = f"system:serviceaccount:{namespace}:{service_account}"
    document = configfiles.kubeconfig(
        cluster.server_url, cluster.ca.cert_pem, user, configfiles.token_credentials(token)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # so the file is created afresh with mode 0600
    return configfiles.write_yaml(out, document, private=True)
