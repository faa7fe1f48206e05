"""The interfaces the use cases need from the outside world; adapters implement them.

Services depend only on these Protocols, so they are tested with small fakes and wired to real
Kubernetes, databases and identity providers in :mod:`kubejit.bootstrap`.
"""

from __future__ import annotations

from typing import Protocol

from kubejit.domain.policy import RoleSource
from kubejit.domain.rbac import PolicyRule


class RoleRules(Protocol):
    """Resolves where a profile's permissions come from into the RBAC rules they grant."""

    def rules_of(self, source: RoleSource) -> tuple[PolicyRule, ...] | None:
        """The effective rules (aggregated ClusterRoles resolved), or None when they cannot be known here.

        Raises NotFound when the role does not exist, Unavailable when the cluster cannot be reached.
        """
        ...
