"""``kubejit demo``: everything a newcomer needs to see kubejit work, on this machine, in one command.

It starts the local control plane (with the dev users and a `payments` namespace running a pod), installs the
broker's least-privilege RBAC for the demo policy, and runs the broker on SQLite and the gateway. People sign in
with ``kubejit login`` through the dev issuer's sign-in page (pick a dev user); ``--dir`` gets ``kubeconfig``,
which makes kubectl present the signed-in person's ID token to kube-apiserver (``kubejit token --id-token``).
``demo.sh`` puts the demo's kubejit and the matching kubectl first on PATH and names the broker, so sourcing it
is all a shell needs. Scripts drive it too (DESIGN.md section 4): ``--dir`` also gets one kubeconfig and one
``<user>.env`` (the same PATH and an ID token that needs no sign-in) per dev user and ``kubejit.yaml`` (the
broker's config); the demo prints a line starting with ``ready`` once everything answers, and runs until
interrupted. One demo runs per directory (DevCluster locks it), and the files holding tokens or keys are
removed when it stops.
"""

from __future__ import annotations

import base64
import shlex
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.gateway import broker_link, gateway_config, prepare_gateway, start_gateway
from kubejit.devcluster.kwok import NODE_NAME
from kubejit.devcluster.users import DEV_USERS
from kubejit.entrypoints.cli.devcluster import describe, wait_for_interrupt
from kubejit.entrypoints.cli.kubeconfig import id_token_kubeconfig, kubejit_executable, write_private

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)  # commands to copy: never wrapped
DEMO_NAMESPACES = ("payments", "payments-eu")


def demo_policy_text() -> str:
    return resources.files("kubejit.examples").joinpath("demo-policy.yaml").read_text()


def demo_path(cluster: DevCluster) -> str:
    """The PATH line of the env files: the matching kubectl, then the kubejit running this demo, then the rest."""
    kubejit_dir = Path(kubejit_executable()).parent
    return f"export PATH={shlex.quote(str(cluster.bin_dir))}:{shlex.quote(str(kubejit_dir))}:$PATH\n"


def write_env_files(cluster: DevCluster, broker_url: str) -> list[Path]:
    """``demo.sh`` (PATH, the broker, the sign-in kubeconfig: for ``kubejit login``) and one ``<user>.env`` per
    dev user (the same PATH, and that user's ID token: to act as them with no sign-in). Sourcing one is all a
    shell needs; the demo removes them when it stops (:func:`remove_credentials`)."""
    server = f"export KUBEJIT_SERVER={shlex.quote(broker_url)}\n"
    login = cluster.output_dir / "demo.sh"
    write_private(
        login,
        "# the kubejit demo: its kubejit and kubectl, its broker; kubectl as whoever signed in with kubejit login\n"
        f"{demo_path(cluster)}{server}unset KUBEJIT_TOKEN\n"
        f"export KUBECONFIG={shlex.quote(str(cluster.output_dir / 'kubeconfig'))}\n",
    )
    written = [login]
    for user in DEV_USERS:
        path = cluster.output_dir / f"{user.name}.env"
        write_private(
            path,
            f"# {user.name} (groups: {', '.join(user.groups)})\n{demo_path(cluster)}{server}"
            f"export KUBEJIT_TOKEN={shlex.quote(cluster.mint_token(user.name))}\n"
            f"export KUBECONFIG={shlex.quote(str(cluster.user_kubeconfig(user.name)))}\n",
        )
        written.append(path)
    return written


_CREDENTIALS = (
    "*.env",
    "demo.sh",
    "kubeconfig",
    "*.kubeconfig",
    "*.key",
    "*.token",
    "*/*.kubeconfig",
    "*/*.key",
    "*/*.token",
)


def remove_credentials(directory: Path) -> list[Path]:
    """What the demo wrote that lets someone act as somebody (env files with ID tokens, kubeconfigs with tokens
    or keys, the gateway's client token, signing and serving keys): removed when it stops, so no credential
    outlives it on disk. Certificates, configs, logs and the database stay (the next start replaces them)."""
    removed = []
    for pattern in _CREDENTIALS:
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_login_kubeconfig(cluster: DevCluster, broker_url: str) -> Path:
    """``kubeconfig``: kube-apiserver itself, as whoever is signed in with ``kubejit login`` to this broker."""
    document = id_token_kubeconfig(
        name="kubejit-demo",
        cluster_url=cluster.server_url,
        ca_data=base64.b64encode(cluster.ca.cert_pem).decode(),
        command=kubejit_executable(),
        server=broker_url,
    )
    path = cluster.output_dir / "kubeconfig"
    write_private(path, yaml.safe_dump(document, sort_keys=False))
    return path


def seed_workloads(cluster: DevCluster) -> None:
    """The payments namespaces, and a running pod to look at."""
    for namespace in DEMO_NAMESPACES:
        cluster.kubectl("create", "namespace", namespace, check=True)
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: checkout-7f9c, namespace: payments, labels: {app: checkout}}\n"
        f"spec:\n  nodeName: {NODE_NAME}\n  containers: [{{name: checkout, image: registry.example/checkout:1.4}}]\n"
    )
    cluster.kubectl("apply", "-f", "-", input_text=pod, check=True)


def walkthrough(cluster: DevCluster, broker: BrokerProcess, gateway_url: str) -> str:
    d = cluster.output_dir
    return f"""
[bold]kubejit demo[/]: a real kube-apiserver, the kubejit broker and gateway, and the demo policy.
{describe(cluster)}
broker          {broker.url} (config {broker.config})
gateway         {gateway_url} (kubectl through it: kubejit kubeconfig --grant <id> -o g.kubeconfig)

In another terminal, in any directory (kubejit login opens the dev sign-in page in your browser:
pick who to be; add --device where there is no browser):
  source {d}/demo.sh               # the demo's kubejit and kubectl first on PATH, its broker
  kubejit login                         # pick alice
  kubectl get pods -n payments          # Forbidden: no standing access
  kubejit request payments-debug -n payments --for 2m --reason "INC-42 checkout"
  kubejit login                         # pick bob
  kubejit list --pending
  kubejit approve <id>
  kubejit login                         # pick alice
  kubectl get pods -n payments          # works now, for 2 minutes
  kubejit kubeconfig --grant <id> -o jit.kubeconfig            # through the gateway:
  kubectl --kubeconfig jit.kubeconfig get pods -n payments     # guarded, recorded
  kubejit login                         # pick dave (the auditor)
  kubejit audit
  kubejit audit verify                  # the trail is intact
Scripts need no sign-in: source {d}/alice.env (PATH, KUBEJIT_TOKEN, a kubeconfig).

Stop with Ctrl-C: every process stops; the temporary files and the env files and kubeconfigs are removed.
"""


def demo(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write kubeconfigs, kubejit.yaml and <user>.env files.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="A policy file to use instead of the demo policy.")
    ] = None,
) -> None:
    """Run the control plane and the broker with the dev users; print how to use them; wait for Ctrl-C."""

    def log(message: str) -> None:
        _stderr.print(f"[dim]demo:[/] {message}")

    with DevCluster(directory, log=log) as cluster:
        try:
            _run_demo(cluster, policy, log)
        finally:  # the cluster's CA and keys die with it: its tokens on disk go too
            remove_credentials(cluster.output_dir)


def _run_demo(cluster: DevCluster, policy: Path | None, log: Callable[[str], None]) -> None:
    for stale in cluster.output_dir.glob("kubejit.db*"):  # the previous run's cluster is gone: start afresh
        stale.unlink()
    policy_file = cluster.output_dir / "policy.yaml"
    if policy is not None:
        shutil.copyfile(policy, policy_file)
    else:
        policy_file.write_text(demo_policy_text())
    loaded = load_policy_file(policy_file)
    seed_workloads(cluster)
    broker_kubeconfig = install_broker_access(cluster, loaded, cluster.output_dir / "broker.kubeconfig")
    shared = prepare_gateway(cluster, cluster.output_dir / "gateway")
    config = broker_config(
        cluster,
        cluster.output_dir,
        policy_file=policy_file,
        broker_kubeconfig=broker_kubeconfig,
        gateway=broker_link(shared),
    )
    broker = start_broker(config)
    log(f"broker ready at {broker.url}")
    gateway = None
    try:
        gateway = start_gateway(
            gateway_config(cluster.output_dir / "gateway", shared, broker_url=broker.url, policy_file=policy_file),
            shared,
        )
        log(f"gateway ready at {gateway.url}")
        write_env_files(cluster, broker.url)
        write_login_kubeconfig(cluster, broker.url)
        _stderr.print(walkthrough(cluster, broker, gateway.url))
        print(f"ready {cluster.output_dir} broker {broker.url} gateway {gateway.url} in {cluster.timings}", flush=True)
        wait_for_interrupt()
    finally:
        if gateway is not None:
            gateway.stop()
        broker.stop()
