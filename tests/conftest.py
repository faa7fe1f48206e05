"""Fixtures shared by the whole suite: one real control plane per session, a fresh namespace per test,
and real kubectl as any dev user. Unit tests never ask for them, so they never start a cluster."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest

from kubejit.devcluster.cluster import DevCluster


class Kubectl(Protocol):
    def __call__(
        self, *args: str, user: str = "admin", check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture(scope="session")
def devcluster() -> Iterator[DevCluster]:
    """etcd + kube-apiserver + dev OIDC issuer + kwok, started once for the test session."""
    with DevCluster() as cluster:
        yield cluster


@pytest.fixture
def namespace(devcluster: DevCluster) -> Iterator[str]:
    """A namespace of its own for one test (it stays Terminating afterwards: no namespace controller runs)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    devcluster.kubectl("create", "namespace", name, check=True)
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def kubectl(devcluster: DevCluster) -> Kubectl:
    """Run real kubectl as ``admin`` (default) or a dev user; fails the test on a non-zero exit if check."""

    def run(
        *args: str, user: str = "admin", check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = devcluster.kubectl(*args, user=user, input_text=input_text)
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} as {user} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


def eventually(check: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes; returns its last answer.

    For changes the cluster applies asynchronously (RBAC caches, controllers), never a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


# the postgres_url / postgres_database fixtures, a headless Chromium page, and Keycloak with a cluster trusting it
pytest_plugins = ["tests.postgres", "tests.browser", "tests.keycloak"]
