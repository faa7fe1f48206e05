"""The ``kubejit`` program (also installed as ``kubectl-jit`` so that ``kubectl jit ...`` works).

Builds the Typer application from one module per command group and turns kubejit's errors into a
message and an exit code. Command modules import their heavy dependencies lazily, so that the commands
kubectl runs often (``kubejit token``) stay fast to start.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.text import Text

from kubejit.domain.errors import KubejitError
from kubejit.entrypoints.cli import demo, devcluster, gateway, policy, requests, serve
from kubejit.entrypoints.cli.errors import exit_code_for

app = typer.Typer(
    name="kubejit",
    help="Just-In-Time access for Kubernetes: request, approve, use and audit time-bound access.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(devcluster.app, name="devcluster")
app.add_typer(policy.app, name="policy")
app.command("serve")(serve.serve)
app.command("gateway")(gateway.gateway)
requests.register(app)
app.command("demo")(demo.demo)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. Usage errors exit with 2 (through SystemExit); kubejit's errors map to DESIGN.md codes."""
    try:
        app(args=argv)
    except KubejitError as error:
        Console(stderr=True, soft_wrap=True).print(Text("error: ", style="bold red") + Text(str(error)))
        return exit_code_for(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
