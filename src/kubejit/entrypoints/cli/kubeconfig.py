"""``kubejit kubeconfig --grant ID``: a kubeconfig that reaches the gateway with ``kubejit token``.

People use a grant with their own kubectl. The kubeconfig names the gateway (URL and CA, as the broker knows
them) and runs ``kubejit token --grant ID`` as its exec credential plugin, so kubectl gets a short-lived grant
token for every command. It holds no secret: the plugin finds the person's identity itself, in the session
``kubejit login`` stored (renewed with its refresh token, so the kubeconfig works for a working day and more), or
in ``KUBEJIT_TOKEN`` if that is set in the environment kubectl runs in.

For kubectl straight to kube-apiserver (which trusts the same issuer), no kubeconfig is written here (the broker
does not know the cluster's URL and CA); a user entry runs ``kubejit token --id-token`` instead::

    kubectl config set-credentials NAME --exec-api-version=client.authentication.k8s.io/v1 \
        --exec-command=kubejit --exec-arg=token --exec-arg=--id-token --exec-interactive-mode=Never
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kubejit.domain.errors import InvalidInput, Refused, Unavailable
from kubejit.domain.workflow import ENDED
from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_connection
from kubejit.entrypoints.cli.token_plugin import API_VERSION, is_grant_id

_PROGRAMS = ("kubejit", "kubectl-jit")


@with_connection
def kubeconfig(
    options: BrokerOptions,
    grant: Annotated[str, typer.Option("--grant", help="The grant (request id, req-...).", show_default=False)],
    output_file: Annotated[
        str | None,
        typer.Option("-o", "--output", help="Write the kubeconfig to this FILE (mode 0600); default: stdout."),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Name of the context (and its cluster and user): jit-<grant>.")
    ] = None,
) -> None:
    """Write a kubeconfig that reaches the gateway with `kubejit token` (kubectl's exec credential plugin).

    No token is written into the file: `kubejit token` uses your `kubejit login` session (or KUBEJIT_TOKEN, if
    set where you run kubectl). The file names the broker (KUBEJIT_SERVER and KUBEJIT_CA, if used).
    """
    if not is_grant_id(grant):
        raise InvalidInput(f"--grant {grant[:100]!r} is not a grant id (they look like req-0123abcd...)")
    if output_file in ("json", "yaml", "text"):
        raise InvalidInput(f"-o names the file to write (the kubeconfig is YAML), not a format: -o {output_file}")
    broker = options.client()
    info = broker.call("GET", "/api/v1/gateway/info")
    request = broker.call("GET", f"/api/v1/requests/{grant}")
    grant = request["id"]  # the whole id, when a unique start of it was given
    me = broker.call("GET", "/api/v1/whoami")
    if request["requester"] != me["user"]:
        raise Refused(f"{grant} was requested by {request['requester']}: only its requester can use a grant")
    if request["state"] in ENDED:
        raise Refused(f"grant {grant} is {request['state']}: request access again with kubejit request")
    if request["state"] != "active":
        _warn_not_active(request)
    url = info.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise Unavailable(f"the broker at {broker.server} gives no https:// URL for the gateway ({url!r})")
    document = build_kubeconfig(
        grant=grant,
        name=context or f"jit-{grant}",
        gateway_url=url,
        ca_data=info.get("certificateAuthorityData"),
        namespace=request["namespaces"][0] if request["namespaces"] else None,
        command=kubejit_executable(),
        server=broker.server,
        ca_file=str(Path(broker.ca_file).absolute()) if broker.ca_file else None,
    )
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    if output_file is None or output_file == "-":
        sys.stdout.write(text)
        return
    write_private(Path(output_file), text)
    if options.token:
        who = "keep KUBEJIT_TOKEN set, kubectl's `kubejit token` reads it from your environment"
    else:
        who = "kubectl's `kubejit token` uses your kubejit login session (renewed as needed) until kubejit logout"
    print(f"wrote {output_file}: use it with KUBECONFIG={output_file} kubectl ...; {who}")


def _warn_not_active(request: dict[str, Any]) -> None:
    """On stderr: the kubeconfig is written, but kubectl is refused until the grant is active."""
    rid, state = request["id"], request["state"]
    if state == "pending":
        waiting = "; ".join(request.get("notes") or []) or "it waits for approval"
        then = f"it is pending ({waiting}); kubejit get {rid} shows when it is active"
    else:
        then = f"it is {state}: kubejit binds it within seconds (kubejit get {rid} shows when it is active)"
    print(
        f"warning: grant {rid} is not active yet, so kubectl is refused with this kubeconfig until it is: {then}",
        file=sys.stderr,
    )


def build_kubeconfig(
    *,
    grant: str,
    name: str,
    gateway_url: str,
    ca_data: str | None,
    namespace: str | None,
    command: str,
    server: str,
    ca_file: str | None,
) -> dict[str, Any]:
    """One cluster (the gateway), one user (``kubejit token --grant ID``) and one context joining them."""
    hint = f"kubejit token is part of kubejit: install kubejit, then run kubejit kubeconfig --grant {grant} again"
    plugin = exec_plugin(command, ["token", "--grant", grant], server=server, ca_file=ca_file, install_hint=hint)
    return single_context_kubeconfig(name, gateway_url, ca_data, plugin, namespace=namespace)


def id_token_kubeconfig(
    *, name: str, cluster_url: str, ca_data: str | None, command: str, server: str, ca_file: str | None = None
) -> dict[str, Any]:
    """A kubeconfig straight to kube-apiserver (which trusts the same issuer as the broker): kubectl presents
    the ID token of the ``kubejit login`` session (``kubejit token --id-token``), so the cluster sees the user the
    broker sees, with the RBAC bindings of that user's active grants."""
    hint = "kubejit token is part of kubejit: install kubejit and sign in with kubejit login"
    plugin = exec_plugin(command, ["token", "--id-token"], server=server, ca_file=ca_file, install_hint=hint)
    return single_context_kubeconfig(name, cluster_url, ca_data, plugin)


def exec_plugin(
    command: str, args: list[str], *, server: str, ca_file: str | None, install_hint: str
) -> dict[str, Any]:
    """The ``exec`` user entry that runs ``kubejit token ...`` for kubectl, naming the broker in its environment."""
    env = [{"name": "KUBEJIT_SERVER", "value": server}]
    if ca_file:
        env.append({"name": "KUBEJIT_CA", "value": ca_file})
    return {
        "apiVersion": API_VERSION,
        "command": command,
        "args": args,
        "env": env,
        "interactiveMode": "Never",
        "provideClusterInfo": False,
        "installHint": install_hint,
    }


def single_context_kubeconfig(
    name: str, server_url: str, ca_data: str | None, plugin: dict[str, Any], *, namespace: str | None = None
) -> dict[str, Any]:
    """One cluster, one user (the exec plugin) and one context joining them, all called ``name``."""
    cluster: dict[str, Any] = {"server": server_url}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"exec": plugin}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }


def kubejit_executable() -> str:
    """The absolute path of the program running now (kubejit or kubectl-jit), for kubectl to run as the plugin."""
    invoked = Path(sys.argv[0])
    if invoked.name.removesuffix(".exe") in _PROGRAMS and invoked.is_file():
        return str(invoked.absolute())
    beside = Path(sys.executable).parent / "kubejit"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubejit")
    if found is None:
        raise Unavailable("cannot find the kubejit program to name in the kubeconfig: put kubejit on your PATH")
    return str(Path(found).absolute())


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (a temporary file beside it, then rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {error.strerror or error}") from None
