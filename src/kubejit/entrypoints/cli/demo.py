"""``kubejit demo``: everything a newcomer needs to see kubejit work, on this machine, in one command.

Today it starts the local control plane with the dev users and their credentials; the broker and the
gateway join it as they land. Scripts drive it (DESIGN.md section 4): it writes into ``--dir`` the
kubeconfigs and one ``<user>.env`` per dev user, prints a line starting with ``ready`` once everything
answers, and runs until interrupted.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.users import DEV_USERS
from kubejit.entrypoints.cli.devcluster import describe, wait_for_interrupt

_stderr = Console(stderr=True, highlight=False)


def write_user_env_files(cluster: DevCluster) -> list[Path]:
    """One ``<user>.env`` per dev user: source it to act as that user with kubectl."""
    written = []
    for user in DEV_USERS:
        path = cluster.output_dir / f"{user.name}.env"
        path.touch(mode=0o600)
        path.write_text(
            f"# {user.name} (groups: {', '.join(user.groups)})\n"
            f"export KUBECONFIG={shlex.quote(str(cluster.user_kubeconfig(user.name)))}\n"
        )
        written.append(path)
    return written


def walkthrough(cluster: DevCluster) -> str:
    d = cluster.output_dir
    return f"""
[bold]kubejit demo[/]: a real kube-apiserver with RBAC, trusting a local OIDC issuer for the dev users.
{describe(cluster)}

In another terminal:
  source {d}/alice.env && kubectl auth whoami        # alice, groups payments-devs
  kubectl auth can-i list pods -n default            # no: alice has no standing access
  KUBECONFIG={d}/admin.kubeconfig kubectl get nodes  # the kwok node that runs demo pods

Next in kubejit: request access as alice, approve it as bob, watch it expire (the broker issue).
Stop with Ctrl-C: every process stops and the temporary files are removed.
"""


def demo(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write kubeconfigs and <user>.env files.")
    ] = None,
) -> None:
    """Run the local control plane with the dev users, print how to use it, and wait for Ctrl-C."""
    with DevCluster(directory, log=lambda m: _stderr.print(f"[dim]demo:[/] {m}")) as cluster:
        write_user_env_files(cluster)
        _stderr.print(walkthrough(cluster))
        print(f"ready {cluster.output_dir} in {cluster.timings}", flush=True)
        wait_for_interrupt()
