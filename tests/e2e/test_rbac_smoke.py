"""The control plane enforces RBAC for OIDC users exactly as a production cluster would:
a RoleBinding gives alice access in one namespace only, and deleting it takes the access away."""

from __future__ import annotations

from tests.conftest import Kubectl, eventually


def can_i(kubectl: Kubectl, user: str, *args: str) -> str:
    result = kubectl("auth", "can-i", *args, user=user, check=False)
    return result.stdout.strip()


def test_rolebinding_gives_alice_view_in_one_namespace_until_deleted(kubectl: Kubectl, namespace: str) -> None:
    other = f"{namespace}-other"
    kubectl("create", "namespace", other)
    assert can_i(kubectl, "alice", "list", "pods", "-n", namespace) == "no"
    assert kubectl("get", "pods", "-n", namespace, user="alice", check=False).returncode != 0

    kubectl("create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice", "-n", namespace)

    # RBAC is served from an informer cache: the binding takes effect a few milliseconds later.
    assert eventually(lambda: can_i(kubectl, "alice", "list", "pods", "-n", namespace) == "yes")
    listed = kubectl("get", "pods", "-n", namespace, user="alice")
    assert "Forbidden" not in listed.stderr
    assert can_i(kubectl, "alice", "list", "pods", "-n", other) == "no"
    assert can_i(kubectl, "alice", "delete", "pods", "-n", namespace) == "no"
    assert can_i(kubectl, "bob", "list", "pods", "-n", namespace) == "no"

    kubectl("delete", "rolebinding", "alice-view", "-n", namespace)

    assert eventually(lambda: can_i(kubectl, "alice", "list", "pods", "-n", namespace) == "no")
    denied = kubectl("get", "pods", "-n", namespace, user="alice", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
