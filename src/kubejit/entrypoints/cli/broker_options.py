"""The options every command that talks to the broker shares, given to the command as one ``BrokerOptions``.

``--server``, ``--token`` and ``--certificate-authority`` (with their environment variables) and ``-o/--output``
are declared here once. A command asks for them with a parameter of type ``BrokerOptions`` and the decorator
``with_broker`` (or ``with_connection``, for a command whose ``-o`` means something else, like
``kubejit kubeconfig``); its body then only says what it does::

    @with_broker
    def get(request_id: IdArgument, broker: BrokerOptions) -> None:
        broker.emit(broker.call("GET", f"/api/v1/requests/{request_id}"), text=show)

``-o`` is checked before the command runs; the connection is checked when the command first uses it (so a
command's own usage errors come first, as they always did). Without ``--token``/``KUBEJIT_TOKEN`` the stored
session of ``kubejit login`` is used (renewed when due), and without ``--server``/``KUBEJIT_SERVER`` the last
login's broker.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any

import typer

from kubejit.entrypoints.cli.client import BrokerClient
from kubejit.entrypoints.cli.output import OutputOption, checked, emit

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server", envvar="KUBEJIT_SERVER", help="The broker's URL (default: your last login's).", show_envvar=True
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="KUBEJIT_TOKEN",
        help="Your ID token (default: your kubejit login session's).",
        show_envvar=True,
        show_default=False,
    ),
]
CaOption = Annotated[
    str | None,
    typer.Option("--certificate-authority", envvar="KUBEJIT_CA", help="CA bundle (PEM file) for an HTTPS broker."),
]

Command = Callable[..., None]


@dataclass(frozen=True)
class BrokerOptions:
    """Which broker, as whom, trusting which CA, and how to print what it answers."""

    server: str | None = None
    token: str | None = None
    ca_file: str | None = None
    output: str = "text"

    def client(self) -> BrokerClient:
        """The broker client; raises InvalidInput when the server is missing or unsafe, Unauthenticated when there
        is no token and no session (or the session cannot be renewed)."""
        return BrokerClient.from_options(self.server, self.token, self.ca_file)

    def anonymous(self) -> BrokerClient:
        """A client of the same broker that sends no token (the broker's public endpoints)."""
        return BrokerClient.anonymous(self.server, self.ca_file)

    def call(self, method: str, path: str, **request: Any) -> Any:
        """One call to the broker (see ``BrokerClient.call``)."""
        return self.client().call(method, path, **request)

    def emit(self, document: Any, *, text: Callable[[Any], None]) -> None:
        """``document`` as JSON with ``-o json``, otherwise through ``text``."""
        emit(document, self.output, text=text)

    def or_else(self, outer: BrokerOptions | None) -> BrokerOptions:
        """These options, with the connection options not given here taken from ``outer`` (a group's)."""
        if outer is None:
            return self
        return replace(
            self,
            server=self.server or outer.server,
            token=self.token or outer.token,
            ca_file=self.ca_file or outer.ca_file,
        )


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


_CONNECTION = (
    _option("server", ServerOption, None),
    _option("token", TokenOption, None),
    _option("ca", CaOption, None),
)
_OUTPUT = _option("output", OutputOption, "text")


def with_broker(command: Command) -> Command:
    """COMMAND with --server, --token, --certificate-authority and -o, received as its BrokerOptions parameter."""
    return _declaring(command, (*_CONNECTION, _OUTPUT))


def with_connection(command: Command) -> Command:
    """COMMAND with --server, --token and --certificate-authority (no -o), received as its BrokerOptions."""
    return _declaring(command, _CONNECTION)


def _declaring(command: Command, added: tuple[inspect.Parameter, ...]) -> Command:
    """Typer reads a command's options from its signature: show it the shared ones in place of the
    BrokerOptions parameter, and build that parameter from them for each call."""
    signature = inspect.signature(command, eval_str=True)
    wanted = [p.name for p in signature.parameters.values() if p.annotation is BrokerOptions]
    if len(wanted) != 1:
        raise TypeError(f"{command.__name__} needs exactly one parameter of type BrokerOptions")
    # Typer passes every parameter by name: all keyword-only, so the shared ones may go anywhere.
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values() if p.name != wanted[0]]
    clash = {p.name for p in own} & {p.name for p in added}
    if clash:
        raise TypeError(f"{command.__name__} declares {sorted(clash)} itself")
    shared = [p.name for p in added]

    @functools.wraps(command)
    def run(**given: Any) -> None:
        values = {name: given.pop(name) for name in shared}
        options = BrokerOptions(values["server"], values["token"], values["ca"], values.get("output", "text"))
        checked(options.output)
        command(**given, **{wanted[0]: options})

    own_output = [p for p in own if p.name == _OUTPUT.name]  # -o stays last in --help, wherever it comes from
    parameters = [*(p for p in own if p.name != _OUTPUT.name), *added, *own_output]
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return run
