"""The CLI's shared broker options: declared once, shown the same on every command, built into one
BrokerOptions, ``-o`` checked first and the connection only when the command uses it."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.audit import since_param
from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker, with_connection
from kubejit.entrypoints.cli.main import build_app
from kubejit.entrypoints.cli.output import emit

CONNECTION = [("--server", "KUBEJIT_SERVER"), ("--token", "KUBEJIT_TOKEN"), ("--certificate-authority", "KUBEJIT_CA")]
OUTPUT = [("--output", None)]


def _then_shared(*own: str, output: bool = True) -> list[tuple[str, str | None]]:
    return [(name, None) for name in own] + CONNECTION + (OUTPUT if output else [])


# Each command's options in --help order, as (long name, environment variable).
EXPECTED = {
    "request": _then_shared("--namespace", "--for", "--reason", "--wait", "--break-glass"),
    "list": _then_shared("--pending", "--mine", "--active"),
    "get": _then_shared(),
    "approve": _then_shared("--comment", "--review"),
    "deny": _then_shared("--comment", "--review"),
    "cancel": _then_shared(),
    "revoke": _then_shared("--reason"),
    "extend": _then_shared("--for", "--reason"),
    "kubeconfig": _then_shared("--grant", "--output", "--context", output=False),
    "audit": _then_shared("--grant", "--user", "--since", "--kind", "--after", "--limit"),
}


def _command(*path: str) -> Any:
    """A command of the real CLI as Typer builds it (Typer brings its own click: read it by its attributes)."""
    command: Any = typer.main.get_command(build_app())
    for name in path:
        command = command.commands[name]
    return command


def _options(command: Any) -> list[tuple[str, str | None]]:
    found = []
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            long = next(name for name in param.opts if name.startswith("--"))
            envvar = param.envvar if isinstance(param.envvar, str) else None
            found.append((long, envvar))
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_broker_command_shows_the_shared_options_once_and_in_place(name: str) -> None:
    assert _options(_command(name)) == EXPECTED[name]


def test_audit_verify_has_the_shared_options() -> None:
    assert _options(_command("audit", "verify")) == CONNECTION + OUTPUT


def _one_command(command: Any) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)  # more than one command: Typer keeps the names
    return app


def test_the_command_receives_one_broker_options_from_flags_and_environment() -> None:
    seen: list[BrokerOptions] = []

    @with_broker
    def show(name: Annotated[str, typer.Argument()], broker: BrokerOptions) -> None:
        seen.append(broker)
        print(name)

    result = CliRunner().invoke(
        _one_command(show),
        ["show", "x", "--server", "https://broker", "-o", "json"],
        env={"KUBEJIT_TOKEN": "secret", "KUBEJIT_CA": "/ca.pem"},
    )
    assert result.exit_code == 0, result.output
    assert result.output == "x\n"
    assert seen == [BrokerOptions("https://broker", "secret", "/ca.pem", "json")]


def test_a_bad_output_format_stops_the_command_before_it_runs() -> None:
    ran: list[bool] = []

    @with_broker
    def show(broker: BrokerOptions) -> None:
        ran.append(True)

    result = CliRunner().invoke(_one_command(show), ["show", "-o", "yaml"])
    assert isinstance(result.exception, InvalidInput)
    assert "-o 'yaml' is not supported" in str(result.exception)
    assert ran == []


def test_the_connection_is_checked_only_when_the_command_uses_it() -> None:
    @with_connection
    def show(broker: BrokerOptions) -> None:
        raise InvalidInput("the command's own problem")

    result = CliRunner().invoke(_one_command(show), ["show"], env={"KUBEJIT_SERVER": ""})
    assert str(result.exception) == "the command's own problem"
    with pytest.raises(InvalidInput, match="say which broker"):
        BrokerOptions(token="t").client()
    assert BrokerOptions("https://broker/", "t").client().server == "https://broker"


def test_a_command_without_broker_options_or_with_its_own_server_is_refused() -> None:
    def lonely(name: str) -> None:
        pass

    def clashing(broker: BrokerOptions, server: str = "") -> None:
        pass

    with pytest.raises(TypeError, match="exactly one parameter of type BrokerOptions"):
        with_broker(lonely)
    with pytest.raises(TypeError, match="declares \\['server'\\] itself"):
        with_broker(clashing)


def test_a_subcommand_takes_the_connection_its_group_was_given() -> None:
    outer = BrokerOptions("https://outer", "outer-token", "/outer.pem", "json")
    inner = BrokerOptions(server="https://inner")
    assert inner.or_else(outer) == BrokerOptions("https://inner", "outer-token", "/outer.pem", "text")
    assert inner.or_else(None) is inner


def test_emit_prints_json_or_hands_the_document_to_the_text_printer(capsys: pytest.CaptureFixture[str]) -> None:
    texts: list[Any] = []
    emit({"id": "req-1"}, "json", text=texts.append)
    assert capsys.readouterr().out == '{\n  "id": "req-1"\n}\n'
    BrokerOptions().emit({"id": "req-1"}, text=texts.append)
    assert texts == [{"id": "req-1"}]


def test_since_takes_a_duration_or_a_time() -> None:
    assert since_param(None) is None
    assert since_param("2026-11-28T12:00:00") == "2026-11-28T12:00:00+00:00"
    assert since_param("2026-11-28T12:00:00+01:00") == "2026-11-28T12:00:00+01:00"
    assert since_param("1h") is not None
    with pytest.raises(InvalidInput, match="give a time"):
        since_param("yesterday")
