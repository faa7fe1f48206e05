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
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from kubejit.domain.audit import AuditKind
from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.audit_init import checkpoint
from kubejit.entrypoints.cli.audit_text import describe
from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker, with_connection
from kubejit.entrypoints.cli.errors import EXIT_OK, EXIT_REFUSED
from kubejit.entrypoints.cli.output import OutputOption, checked, print_table

app = typer.Typer(help="Read and verify the tamper-evident audit trail.", invoke_without_command=True)

_out = Console(highlight=False, soft_wrap=True)
_ROW_PROBLEM = re.compile(r"request (\S+): ")
DEFAULT_LIMIT = 1000  # the broker's default page
MAX_LIMIT = 10_000  # and its largest
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
    grant: Annotated[
        str | None, typer.Option("--grant", help="Only events of this request/grant (or a unique start of its id).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only events by this user.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From this time (2026-11-28T12:00:00Z) or this long ago (30m, 2h, 7d)."),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only events of this kind, e.g. grant.revoked (repeat for more).", metavar="KIND"),
    ] = None,
    after: Annotated[
        int, typer.Option("--after", help="Only events after this seq: the next page.", metavar="SEQ", min=0)
    ] = 0,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many events.", metavar="N", min=1, max=MAX_LIMIT)
    ] = DEFAULT_LIMIT,
    output: OutputOption = "text",
) -> None:
    """Show audit events (auditors and admins see all; others their own requests'). -o json gives JSON lines."""
    if ctx.invoked_subcommand is not None:
        # `kubejit audit --server URL -o json verify` connects and prints like `kubejit audit verify ... -o json`
        ctx.obj = replace(broker, output=checked(output))
        return
    checked(output)
    kinds = checked_kinds(kind or [])
    params: dict[str, Any] = {"requestId": grant, "user": user, "since": since_param(since), "kind": kinds}
    params |= {"after": after, "limit": limit}
    events = broker.call("GET", "/api/v1/audit", params={k: v for k, v in params.items() if v})
    if output == "json":
        for event in events:
            print(json.dumps(event, sort_keys=True))
        return
    _events_table(events)
    if len(events) == limit:
        print(f"(the first {limit}: the next page is kubejit audit --after {events[-1]['seq']} ...)", file=sys.stderr)


def checked_kinds(kinds: list[str]) -> list[str]:
    """The --kind values, each one of the audit trail's kinds (a usage error naming the known ones)."""
    known = [k.value for k in AuditKind]
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise InvalidInput(f"--kind {', '.join(unknown)}: not an audit event kind; the kinds are {', '.join(known)}")
    return list(dict.fromkeys(kinds))


def _events_table(events: list[dict[str, Any]]) -> None:
    if not events:
        _out.print("no events")
        return
    rows = [
        [str(e["seq"]), e["at"], e["kind"], e["actor"], e["requestId"], describe(e["kind"], e["data"])] for e in events
    ]
    print_table(["seq", "at", "kind", "actor", "request", "details"], rows, elastic=("details",))


_DAYS = re.compile(r"(\d+)d(.*)")


def look_back(value: str) -> timedelta:
    """A duration to count back from now: Go's form (30m, 2h, 1h30m) or whole days first (7d, 1d12h)."""
    days = _DAYS.fullmatch(value.strip())
    if days is None:
        return parse_duration(value)
    rest = parse_duration(days.group(2)) if days.group(2) else timedelta(0)
    return timedelta(days=int(days.group(1))) + rest


def since_param(value: str | None, now: datetime | None = None) -> str | None:
    """``--since`` as the API's ``since``: a duration (30m, 2h, 7d) counts back from ``now``, a time without a
    zone is UTC."""
    if not value:
        return None
    try:
        return ((now or datetime.now(UTC)) - look_back(value)).isoformat()
    except (InvalidInput, OverflowError):
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"--since {value!r}: give a time (2026-11-28T12:00:00Z) or how long ago (30m, 2h, 7d)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@app.command()
@with_broker
def verify(ctx: typer.Context, broker: BrokerOptions) -> None:
    """Check the whole chain and its signed checkpoint; exit 1 if anything was altered."""
    group: BrokerOptions | None = ctx.obj
    if group is not None and broker.output == "text":
        broker = replace(broker, output=group.output)  # `kubejit audit -o json verify`
    result = broker.or_else(group).call("GET", "/api/v1/audit/verify")
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
