"""Finds or builds ``helm``, for the tests of the chart in ``charts/kubejit``.

Helm is built like the control plane's binaries (:mod:`kubejit.devcluster.binaries`): with the plain ``go``
command from the Go module proxy, from the pinned wrapper module ``toolchain/helm`` (go.mod + go.sum), and
cached under a key derived from the pins. The build stamps helm's own version and the Kubernetes version that
``helm template`` and ``helm lint`` assume without a cluster (the minor of the pinned ``k8s.io/client-go``),
as helm's release builds do. :func:`kubejit.devcluster.binaries.ensure` calls :func:`ensure_helm`, so
``make binaries`` builds it; the chart's e2e tests call it to find it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from kubejit.devcluster.binaries import TOOLCHAIN_DIR, Component, build
from kubejit.domain.errors import Unavailable

HELM_MODULE_DIR = "helm"
_HELM_PACKAGE = "helm.sh/helm/v3"


def _required_version(module: str) -> str:
    go_mod = TOOLCHAIN_DIR / HELM_MODULE_DIR / "go.mod"
    match = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod.read_text(), re.MULTILINE)
    if match is None:
        raise Unavailable(f"{go_mod} does not require {module}: run `go get {_HELM_PACKAGE}/cmd/helm@VERSION` there")
    return match.group(1)


def helm_version() -> str:
    """The helm release the wrapper module pins, e.g. ``v3.22.0``."""
    return _required_version(_HELM_PACKAGE)


def _kubernetes_minor() -> str:
    # client-go v0.N.x is Kubernetes 1.N.
    return _required_version("k8s.io/client-go").lstrip("v").split(".")[1]


@cache
def helm_component() -> Component:
    """The wrapper module's helm, with the version stamps helm's own Makefile sets."""
    minor = _kubernetes_minor()
    stamps = [f"-X {_HELM_PACKAGE}/internal/version.version={helm_version()}"]
    for pkg in (f"{_HELM_PACKAGE}/pkg/chartutil", f"{_HELM_PACKAGE}/pkg/lint/rules"):
        stamps += [f"-X {pkg}.k8sVersionMajor=1", f"-X {pkg}.k8sVersionMinor={minor}"]
    return Component("helm", HELM_MODULE_DIR, f"{_HELM_PACKAGE}/cmd/helm", extra_ldflags=tuple(stamps))


def ensure_helm(*, log: Callable[[str], None]) -> Path:
    """The cached helm binary, built first if the pins changed or it was never built."""
    return build(helm_component(), log=log)
