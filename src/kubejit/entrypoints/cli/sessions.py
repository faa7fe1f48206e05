"""``kubejit sessions``: the sessions open through the gateways (exec, attach, port-forward, watch), as
``GET /api/v1/sessions`` lists them for the caller (``main`` registers the command).

A table for people, ``-o json`` (the API's list, unchanged) for scripts. Who sees which session is the broker's
rule (the requester, auditors and admins); the CLI only prints. Only the command is cut to fit a terminal: the
grant, the pod and the gateway process are what a person copies (into ``kubejit revoke``, ``kubectl``, a search
of the gateway's logs).
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker
from kubejit.entrypoints.cli.output import print_table

_out = Console(highlight=False, soft_wrap=True)
HEADERS = ("grant", "user", "kind", "on", "since", "gateway", "standing", "command")


@with_broker
def sessions(broker: BrokerOptions) -> None:
    """List the sessions open through the gateways that you may see (exec, attach, port-forward, watch)."""
    broker.emit(broker.call("GET", "/api/v1/sessions"), text=_table)


def _table(found: list[dict[str, Any]]) -> None:
    """One line per session, oldest first; then, for each session that is not plainly open, why."""
    if not found:
        _out.print("no open sessions that you can see")
        return
    rows = [
        [
            s["grantId"],
            s["user"],
            s["kind"],
            s["where"] or "-",
            _since(s["since"]),
            s["gateway"] or "-",
            s["standing"],
            shlex.join(s["command"]),
        ]
        for s in found
    ]
    print_table(HEADERS, rows, elastic=("command",))
    for s in found:
        if s["standing"] != "open":
            _out.print(
                f"{s['standing']}: {s['grantId']} {escape(s['kind'])} on {escape(s['where'])}: {escape(s['why'])}"
            )


def _since(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def register(app: typer.Typer) -> None:
    app.command("sessions")(sessions)
