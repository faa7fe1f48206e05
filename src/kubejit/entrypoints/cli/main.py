"""The ``kubejit`` program (also installed as ``kubectl-jit`` so that ``kubectl jit ...`` works).

``main()`` sends ``kubejit token`` (kubectl's exec credential plugin, run for every kubectl command) straight to
``token_plugin``, which uses only the standard library, before anything else is imported: this module itself
imports nothing heavy at load time (not even ``typing``). Every other command goes through the Typer
application built by ``build_app()`` from one module per command group (with ``--version``, ``version`` and
Typer's shell completion, ``--install-completion``/``--show-completion``), shown to click through
``build_command()`` with plain metavars in ``--help`` (``help_text``); kubejit's errors become a message and
the exit code of DESIGN.md section 4.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: loading typing would slow `kubejit token` down
if TYPE_CHECKING:
    import typer
    from typer import _click as click


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. Usage errors exit with 2 (through SystemExit); kubejit's errors map to DESIGN.md codes."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["token"]:
        from kubejit.entrypoints.cli import token_plugin

        return token_plugin.run(args[1:])
    return _run_app(args)


def build_app() -> typer.Typer:
    """The Typer application of every command (``token`` is listed here too, for ``kubejit --help``)."""
    import typer

    from kubejit.entrypoints.cli import (
        audit,
        demo,
        devcluster,
        gateway,
        kubeconfig,
        login,
        policy,
        profiles,
        requests,
        scan,
        serve,
        sessions,
        token_plugin,
        version,
        whoami,
    )

    app = typer.Typer(
        name="kubejit",
        help="Just-In-Time access for Kubernetes: request, approve, use and audit time-bound access.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
    )

    version.register(app)
    app.add_typer(devcluster.app, name="devcluster")
    app.add_typer(policy.app, name="policy")
    app.add_typer(profiles.app, name="profiles")
    app.command("serve")(serve.serve)
    app.command("gateway")(gateway.gateway)
    requests.register(app)
    login.register(app)
    whoami.register(app)
    scan.register(app)
    sessions.register(app)
    app.add_typer(audit.app, name="audit")
    app.command("demo")(demo.demo)

    @app.command("token")
    def token(
        grant: str | None = typer.Option(
            None, "--grant", help="The grant (request id); default: $KUBEJIT_GRANT.", show_default=False
        ),
        id_token: bool = typer.Option(
            False, "--id-token", help="Your session's ID token instead (for kube-apiserver)."
        ),
    ) -> None:
        """ExecCredential for kubectl: a short-lived token for your active grant (cached while valid)."""
        raise typer.Exit(token_plugin.run(["--id-token"] if id_token else ["--grant", grant] if grant else []))

    app.command("kubeconfig")(kubeconfig.kubeconfig)
    return app


def build_command() -> click.Command:
    """The click command ``kubejit`` runs: ``build_app()``'s, with words for users in ``--help``."""
    from typer.main import get_command

    from kubejit.entrypoints.cli.help_text import plain_metavars

    return plain_metavars(get_command(build_app()))


def _run_app(args: list[str]) -> int:
    from rich.console import Console
    from rich.text import Text

    from kubejit.domain.errors import KubejitError
    from kubejit.entrypoints.cli.errors import EXIT_USAGE, exit_code_for
    from kubejit.login_sessions import UnsafeFile

    def report(message: str) -> None:
        Console(stderr=True, soft_wrap=True).print(Text("error: ", style="bold red") + Text(message))

    try:
        build_command()(args=args, prog_name=_program_name())
    except KubejitError as error:
        report(str(error))
        return exit_code_for(error)
    except UnsafeFile as error:  # the session cache is not this user's alone (a symlink, another owner, ...)
        report(f"refusing the session cache: {error}; remove it and run kubejit login")
        return EXIT_USAGE
    return 0


def _program_name() -> str:
    """kubejit, or kubectl-jit when kubectl runs it as a plugin (so shell completion finds its variable)."""
    from pathlib import Path

    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "kubectl-jit" if name.startswith("kubectl-jit") else "kubejit"


if __name__ == "__main__":
    sys.exit(main())
