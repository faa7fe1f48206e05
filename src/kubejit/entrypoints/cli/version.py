"""``kubejit version`` and ``kubejit --version``: which kubejit this is (the package's version).

``main.build_app`` registers both; ``-o json`` prints ``{"version": ...}`` for scripts.
"""

from __future__ import annotations

import typer

from kubejit import __version__
from kubejit.entrypoints.cli.output import OutputOption, checked, emit


def version(output: OutputOption = "text") -> None:
    """Print kubejit's version (-o json: an object with "version")."""
    emit({"version": __version__}, checked(output), text=lambda document: print(f"kubejit {document['version']}"))


def print_version_and_exit(value: bool) -> None:
    """The ``--version`` flag's callback (eager: it runs before any command)."""
    if value:
        print(f"kubejit {__version__}")
        raise typer.Exit()


def root(
    show_version: bool = typer.Option(
        False, "--version", help="Print kubejit's version and exit.", is_eager=True, callback=print_version_and_exit
    ),
) -> None:
    """Just-In-Time access for Kubernetes: request, approve, use and audit time-bound access."""


def register(app: typer.Typer) -> None:
    app.callback()(root)
    app.command("version")(version)
