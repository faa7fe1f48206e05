"""The dev users of the local control plane (DESIGN.md section 4).

Tests, the demo and the docs refer to these people by name; their groups are what the demo policy
and the examples use to decide who may request and who may approve.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DevUser:
    """A person known to the dev OIDC issuer: the name and groups kube-apiserver will see."""

    name: str
    groups: tuple[str, ...]


DEV_USERS: tuple[DevUser, ...] = (
    DevUser("alice", ("payments-devs",)),
    DevUser("bob", ("payments-leads",)),
    DevUser("carol", ("payments-leads", "sre-oncall")),
    DevUser("dave", ("auditors",)),
    DevUser("erin", ("platform-admins",)),
)


def dev_user(name: str) -> DevUser:
    """Look a dev user up by name; raises ``KeyError`` naming the known users."""
    for user in DEV_USERS:
        if user.name == name:
            return user
    known = ", ".join(u.name for u in DEV_USERS)
    raise KeyError(f"unknown dev user {name!r}; the dev users are {known}")
