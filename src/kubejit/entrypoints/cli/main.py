"""The ``kubejit`` program (also installed as ``kubectl-jit`` so that ``kubectl jit ...`` works).

``main()`` sends ``kubejit token`` (kubectl's exec credential plugin, run for every kubectl command) straight to
``token_plugin``, which uses only the standard library, before anything else is imported: this module itself
imports nothing heavy at load time (not even ``typing``). Every other command goes through the Typer
application built by ``build_app()`` from one module per command group; kubejit's errors become a message and
the exit code of DESIGN.md section 4.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: loading typing would slow `kubejit token` down
if TYPE_CHECKING:
    import typer


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
        token_plugin,
        whoami,
    )

    app = typer.Typer(
        name="kubejit",
        help="Just-In-Time access for Kubernetes: request, approve, use and audit time-bound access.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.add_typer(devcluster.app, name="devcluster")
    app.add_typer(policy.app, name="policy")
    app.add_typer(profiles.app, name="profiles")
    app.command("serve")(serve.serve)
    app.command("gateway")(gateway.gateway)
    requests.register(app)
    login.register(app)
    whoami.register(app)
    scan.register(app)
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


def _run_app(args: list[str]) -> int:
    from rich.console import Console
    from rich.text import Text

    from kubejit.domain.errors import KubejitError
    from kubejit.entrypoints.cli.errors import EXIT_USAGE, exit_code_for
    from kubejit.login_sessions import UnsafeFile

    def report(message: str) -> None:
        Console(stderr=True, soft_wrap=True).print(Text("error: ", style="bold red") + Text(message))

    try:
        build_app()(args=args)
    except KubejitError as error:
        report(str(error))
        return exit_code_for(error)
    except UnsafeFile as error:  # the session cache is not this user's alone (a symlink, another owner, ...)
        report(f"refusing the session cache: {error}; remove it and run kubejit login")
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
