"""``kubejit devcluster up|run|binaries``: the local control plane from the command line.

``up`` runs it in the foreground until interrupted; ``run`` starts it, runs one command against it with
``KUBECONFIG``, ``KUBEJIT_DEVCLUSTER_DIR`` and the matching kubectl first on ``PATH``, stops it, and returns
the command's exit code; ``binaries`` builds (or finds in the cache) the binaries, and downloads and builds the
test rig's Keycloak (on Java >= 21), and prints their paths.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.users import DEV_USERS
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.output import OutputOption, checked, print_json

app = typer.Typer(help="The local Kubernetes control plane (etcd + kube-apiserver + kwok) for tests and demos.")

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Where to write admin.kubeconfig and <user>.kubeconfig (default: a temp dir)."),
]
NoKwokOption = Annotated[bool, typer.Option("--no-kwok", help="Do not start kwok and its fake node.")]

_stderr = Console(stderr=True, highlight=False)


def _progress(message: str) -> None:
    _stderr.print(f"[dim]devcluster:[/] {message}")


def wait_for_interrupt() -> int:
    """Block until SIGINT or SIGTERM; return the signal number."""
    received: list[int] = []
    done = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        done.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not done.wait(3600):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return received[0]


def describe(cluster: DevCluster) -> str:
    users = " ".join(u.name for u in DEV_USERS)
    return (
        f"kube-apiserver  {cluster.server_url}\n"
        f"admin           export KUBECONFIG={cluster.admin_kubeconfig}\n"
        f"dev users       {users}: {cluster.output_dir}/<user>.kubeconfig\n"
        f"try             kubectl --kubeconfig {cluster.user_kubeconfig('alice')} auth whoami\n"
        f"kubectl         {cluster.bins.kubectl}\n"
        f"state           {cluster.state_dir} (removed at exit)"
    )


@app.command()
def up(directory: DirOption = None, no_kwok: NoKwokOption = False) -> None:
    """Start the control plane and keep it running until Ctrl-C (or SIGTERM), then clean up."""
    with DevCluster(directory, with_kwok=not no_kwok, log=_progress) as cluster:
        _stderr.print(describe(cluster))
        print(f"ready in {cluster.timings}", flush=True)
        wait_for_interrupt()
        _progress("stopping")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.", show_default=False)],
    directory: DirOption = None,
    no_kwok: NoKwokOption = False,
) -> None:
    """Start the control plane, run COMMAND against it, stop it, and exit with COMMAND's exit code."""
    if not command:
        raise InvalidInput("devcluster run needs a command: kubejit devcluster run [--dir D] -- CMD ...")
    with DevCluster(directory, with_kwok=not no_kwok, log=_progress) as cluster:
        _progress(f"ready in {cluster.timings}")
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.admin_kubeconfig),
            "KUBEJIT_DEVCLUSTER_DIR": str(cluster.output_dir),
            "PATH": f"{cluster.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        try:
            child = subprocess.Popen(command, env=env)
        except OSError as error:
            raise InvalidInput(f"cannot run {command[0]!r}: {error.strerror}") from error
        forward = lambda signum, _frame: child.send_signal(signum)  # noqa: E731
        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = child.wait()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
    raise typer.Exit(code if code >= 0 else 128 - code)


NoKeycloakOption = Annotated[
    bool, typer.Option("--no-keycloak", help="Do not fetch Keycloak (the tests' identity provider; needs Java 21+).")
]


@app.command()
def binaries(
    output: OutputOption = "text",
    no_kwok: NoKwokOption = False,
    no_keycloak: NoKeycloakOption = False,
) -> None:
    """Build (first time) or find in the cache etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
    Keycloak; print their paths."""
    from kubejit.devcluster import binaries as found
    from kubejit.devcluster.keycloak_dist import ensure_keycloak

    checked(output)
    bins = found.ensure(with_kwok=not no_kwok, log=_progress)
    keycloak = None if no_keycloak else ensure_keycloak(log=_progress)
    paths = {
        "etcd": str(bins.etcd),
        "kube-apiserver": str(bins.kube_apiserver),
        "kube-controller-manager": str(bins.kube_controller_manager),
        "kube-scheduler": str(bins.kube_scheduler) if bins.kube_scheduler else None,
        "kwok": str(bins.kwok) if bins.kwok else None,
        "kubectl": str(bins.kubectl),
        "keycloak": str(keycloak.home) if keycloak else None,
        "java": str(keycloak.java) if keycloak else None,
    }
    if output == "json":
        print_json(paths)
    else:
        for name, path in paths.items():
            print(f"{name:24} {path}")
