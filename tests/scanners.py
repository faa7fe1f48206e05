"""The established RBAC scanners that kubejit's scan is compared with, found or built for the tests.

Test-side tooling, not product code: tests/e2e/test_scan_comparison.py calls :func:`rbac_police` and
:func:`kubiscan` and runs what they return against the seeded control plane. Each one either returns a tool
that runs here, offline, or raises :class:`ScannerUnavailable` saying exactly why and whether the package
registry itself refused it (``refused_by_registry``): a refusal is a fact of this machine's registries, any
other cause (no ``go`` on PATH, a failed build) is a broken set-up and fails the comparison.

- rbac-police (Go, PaloAltoNetworks/rbac-police) is built like the control plane's binaries
  (:mod:`kubejit.devcluster.binaries`): with the plain ``go`` command from the Go module proxy, cached under
  ``$KUBEJIT_CACHE_DIR/bin/rbac-police-<version>/``. Its policy library (``lib/*.rego``) is not in the
  binary; it is read from the module's source in the Go module cache, which the same download fills.
  ``KUBEJIT_RBAC_POLICE=/path/to/rbac-police`` (with ``lib/`` beside it) uses a binary built elsewhere.
- KubiScan (Python, cyberark/KubiScan) is not published on PyPI (see :data:`KUBISCAN_NOT_ON_PYPI`);
  ``KUBEJIT_KUBISCAN=/path/to/KubiScan`` (a checkout holding ``KubiScan.py``) points at one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kubejit.devcluster.binaries import cache_root

RBAC_POLICE_MODULE = "github.com/PaloAltoNetworks/rbac-police"
# No release of rbac-police has been served here, so no version could be pinned by trying it: the newest
# the proxy resolves is built and its resolved version names the cache entry and the report.
RBAC_POLICE_VERSION = os.environ.get("KUBEJIT_RBAC_POLICE_VERSION", "latest")

KUBISCAN_NOT_ON_PYPI = (
    "KubiScan is not installable from PyPI: the name 'kubiscan' (0.0.1) is a reserved-name placeholder "
    "with no code, and 'KubiScanPyPi' (0.1.57) ships a wheel with no module in it; cyberark publishes "
    "KubiScan only as source on GitHub and as container images on ghcr.io, neither of which this machine "
    "reaches. Set KUBEJIT_KUBISCAN to a KubiScan checkout to compare with it"
)


class ScannerUnavailable(Exception):
    """A scanner cannot be had here; the message says why and what to do."""

    def __init__(self, message: str, *, refused_by_registry: bool) -> None:
        super().__init__(message)
        self.refused_by_registry = refused_by_registry


@dataclass(frozen=True)
class RbacPolice:
    """A runnable rbac-police: its binary, its policy library and the version they came from."""

    binary: Path
    policies: Path
    version: str


@dataclass(frozen=True)
class KubiScan:
    """A KubiScan checkout, run with its own virtualenv's Python (``.venv`` in the checkout, holding its
    requirements.txt) or, without one, with this Python."""

    script: Path
    python: Path


def rbac_police() -> RbacPolice:
    """rbac-police from ``KUBEJIT_RBAC_POLICE``, the cache, or a build through the Go module proxy."""
    given = os.environ.get("KUBEJIT_RBAC_POLICE")
    if given:
        binary = Path(given)
        if not os.access(binary, os.X_OK) or not (binary.parent / "lib").is_dir():
            raise ScannerUnavailable(
                f"KUBEJIT_RBAC_POLICE={given} is not an executable with its policy library lib/ beside it",
                refused_by_registry=False,
            )
        return RbacPolice(binary, binary.parent / "lib", "given by KUBEJIT_RBAC_POLICE")
    go = shutil.which("go")
    if go is None:
        raise ScannerUnavailable("'go' is not on PATH, so rbac-police cannot be built", refused_by_registry=False)
    source, version = _download(go)
    target = cache_root() / "bin" / f"rbac-police-{version}" / "rbac-police"
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.access(target, os.X_OK):
            partial = target.with_name("rbac-police.partial")
            _run([go, "build", "-trimpath", "-o", str(partial), "."], source, what="building rbac-police")
            partial.replace(target)
    return RbacPolice(target, source / "lib", version)


def _download(go: str) -> tuple[Path, str]:
    """The module's source directory in the Go module cache, and the version the proxy served."""
    argv = [go, "mod", "download", "-json", f"{RBAC_POLICE_MODULE}@{RBAC_POLICE_VERSION}"]
    result = subprocess.run(argv, capture_output=True, text=True, env=_go_env(), cwd=cache_root(), timeout=600)
    try:
        answer = json.loads(result.stdout or "{}")
    except ValueError:
        answer = {}
    error = str(answer.get("Error") or result.stderr).strip()
    if result.returncode != 0 or not answer.get("Dir"):
        refused = "403 Forbidden" in error or "not available" in error or "404 Not Found" in error
        raise ScannerUnavailable(
            f"the Go module proxy did not serve {RBAC_POLICE_MODULE}@{RBAC_POLICE_VERSION}: {error}",
            refused_by_registry=refused,
        )
    return Path(answer["Dir"]), str(answer["Version"])


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOWORK": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}


def _run(argv: list[str], cwd: Path, *, what: str) -> None:
    result = subprocess.run(argv, cwd=cwd, env=_go_env(), capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-20:])
        raise ScannerUnavailable(f"{what} failed (exit {result.returncode}):\n{tail}", refused_by_registry=False)


def kubiscan() -> KubiScan:
    """KubiScan from ``KUBEJIT_KUBISCAN``; PyPI has no package of it."""
    given = os.environ.get("KUBEJIT_KUBISCAN")
    if not given:
        raise ScannerUnavailable(KUBISCAN_NOT_ON_PYPI, refused_by_registry=True)
    script = Path(given) / "KubiScan.py"
    if not script.is_file():
        raise ScannerUnavailable(f"KUBEJIT_KUBISCAN={given} holds no KubiScan.py", refused_by_registry=False)
    own = script.parent / ".venv" / "bin" / "python"
    return KubiScan(script, own if own.is_file() else Path(sys.executable))


def rbac_police_violations(report: dict[str, object]) -> set[tuple[str, str, str]]:
    """``(kind, name, policy)`` for each identity rbac-police's ``eval`` reports: ServiceAccounts as
    ``namespace:name``, users and groups by name, the policy by its file's stem (``nodes_proxy``)."""
    found: set[tuple[str, str, str]] = set()
    results = report.get("policyResults")
    for result in results if isinstance(results, list) else []:
        policy = Path(str(result.get("policy", ""))).stem
        violations = result.get("violations") or {}
        for entry in violations.get("serviceAccounts") or []:
            found.add(("ServiceAccount", f"{entry['namespace']}:{entry['name']}", policy))
        for kind, key in (("User", "users"), ("Group", "groups")):
            for entry in violations.get(key) or []:
                found.add((kind, str(entry["name"] if isinstance(entry, dict) else entry), policy))
    return found
