"""``kubejit audit`` and ``kubejit audit verify``: read and verify the tamper-evident audit trail.

``kubejit audit`` lists events (auditors and admins see all, others their own requests'), worded for people by
``audit_text``; ``-o json`` gives the complete records as JSON lines. ``kubejit audit verify`` checks the whole
chain and its signed checkpoint, replays the chain against the requests table (naming every row the chain does
not explain), and exits 1 if anything was altered, a checkpoint went backwards (rollback) or stopped covering
recent events (stale). ``kubejit audit checkpoint --init`` (:mod:`.audit_init`) signs the first checkpoint of an
existing trail. ``main`` adds ``app`` as ``audit``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.audit_init import checkpoint
from kubejit.entrypoints.cli.audit_text import describe
from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker, with_connection
from kubejit.entrypoints.cli.errors import EXIT_OK, EXIT_REFUSED
from kubejit.entrypoints.cli.output import OutputOption, checked

app = typer.Typer(help="Read and verify the tamper-evident audit trail.", invoke_without_command=True)

_out = Console(highlight=False, soft_wrap=True)
_ROW_PROBLEM = re.compile(r"request (\S+): ")
app.command("checkpoint")(checkpoint)

# What to do about each kind of problem that is not plain tampering with the events.
_ADVICE = {
    "rollback": "the checkpoint went backwards: compare the ConfigMap's (or file's) history with the trail",
    "stale-checkpoint": "checkpoints stopped being written: check the leader's log for checkpoint errors",
}


@app.callback()
@with_connection
def audit(
    ctx: typer.Context,
    broker: BrokerOptions,
    grant: Annotated[str | None, typer.Option("--grant", help="Only events of this request/grant.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only events by this user.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time (ISO 8601) or this long ago (1h).")
    ] = None,
    output: OutputOption = "text",
) -> None:
    """Show audit events (auditors and admins see all; others their own requests'). -o json gives JSON lines."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = broker  # `kubejit audit --server URL verify` connects like `kubejit audit verify --server URL`
        return
    checked(output)
    params: dict[str, Any] = {"requestId": grant, "user": user, "since": since_param(since)}
    events = broker.call("GET", "/api/v1/audit", params={k: v for k, v in params.items() if v})
    if output == "json":
        for event in events:
            print(json.dumps(event, sort_keys=True))
        return
    _events_table(events)


def _events_table(events: list[dict[str, Any]]) -> None:
    table = Table(box=None, pad_edge=False, header_style="dim")
    for column in ("seq", "at", "kind", "actor", "request", "details"):
        table.add_column(column, overflow="fold")
    for e in events:
        details = describe(e["kind"], e["data"])
        table.add_row(str(e["seq"]), e["at"], e["kind"], e["actor"], e["requestId"], escape(details))
    _out.print(table if events else "no events")


def since_param(value: str | None) -> str | None:
    """``--since`` as the API's ``since``: a duration (1h) counts back from now, a time without a zone is UTC."""
    if not value:
        return None
    try:
        return (datetime.now(UTC) - parse_duration(value)).isoformat()
    except InvalidInput:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--since {value!r}: give a time (2026-11-28T12:00:00Z) or a duration (1h)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@app.command()
@with_broker
def verify(ctx: typer.Context, broker: BrokerOptions) -> None:
    """Check the whole chain and its signed checkpoint; exit 1 if anything was altered."""
    result = broker.or_else(ctx.obj).call("GET", "/api/v1/audit/verify")
    broker.emit(result, text=_verdict)
    raise typer.Exit(EXIT_OK if result["ok"] else EXIT_REFUSED)


def _verdict(result: dict[str, Any]) -> None:
    if result["ok"]:
        _out.print(
            f"audit trail intact: {result['events']} events, head {result['headSeq']} {result['headHash'][:16]}..., "
            f"checkpoint at event {result['checkpointSeq']}"
        )
        return
    _out.print(f"[bold red]audit trail altered[/]: {len(result['problems'])} problem(s) in {result['events']} events")
    for problem in result["problems"]:
        _out.print(f"  event {problem['seq']}: {problem['kind']}: {escape(problem['message'])}")
    for kind in sorted({p["kind"] for p in result["problems"]} & _ADVICE.keys()):
        _out.print(f"  {kind}: {_ADVICE[kind]}")
    rows = unexplained_rows(result["problems"])
    if rows:
        _out.print(f"[bold red]rows the chain does not explain[/] (never honoured as access): {', '.join(rows)}")


def unexplained_rows(problems: list[dict[str, Any]]) -> list[str]:
    """The request ids that the verify service's row replay named (its messages start ``request ID:``)."""
    found = (_ROW_PROBLEM.match(str(p.get("message", ""))) for p in problems)
    return list(dict.fromkeys(m.group(1) for m in found if m))
