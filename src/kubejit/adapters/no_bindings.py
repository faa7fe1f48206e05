"""The cluster side of authorization-webhook mode with ``authorizationWebhook.bindings: false``: grants make no RBAC
bindings at all.

kube-apiserver asks the broker about each request (``services.authorization_webhook``), so a grant needs nothing in
the cluster: the keeper still activates, ends and audits grants exactly as in RBAC mode, through this
:class:`kubejit.ports.Cluster`, which binds nothing. Removing and listing still reach the real bindings
(``adapters.kube.bindings``), so bindings left from before the switch to this mode are deleted when their grant
ends or is revoked, and swept like any leftover. Chosen by ``bootstrap.build_broker``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kubejit.domain.policy import IdentityMapping, Profile
from kubejit.domain.workflow import AccessRequest
from kubejit.ports import BindingRef, Cluster


@dataclass
class NoBindings:
    """A Cluster that grants nothing through RBAC; ``existing`` is the RBAC adapter, for removal only."""

    existing: Cluster

    # The Cluster protocol's signatures: nothing is bound, so nothing of the grant is used.
    def bind(
        self,
        request: AccessRequest,  # noqa: ARG002
        profile: Profile,  # noqa: ARG002
        identity: IdentityMapping,  # noqa: ARG002
        ends_at: datetime,  # noqa: ARG002
    ) -> list[BindingRef]:
        return []

    def set_end(
        self,
        grant_id: str,  # noqa: ARG002
        ends_at: datetime,  # noqa: ARG002
        namespaces: Sequence[str] | None = None,  # noqa: ARG002
    ) -> None:
        return None

    def unbind(self, grant_id: str, namespaces: Sequence[str] | None = None) -> list[BindingRef]:
        return self.existing.unbind(grant_id, namespaces)

    def managed_bindings(self) -> list[BindingRef]:
        return self.existing.managed_bindings()

    def delete_binding(self, ref: BindingRef) -> bool:
        return self.existing.delete_binding(ref)
