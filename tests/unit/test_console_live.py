"""The console's live, timeline and audit pieces without a browser: CSV cells never run as formulas, event
summaries and recorded output stay text, the audit bell wakes a waiting stream from another thread, the broker's
audit signal survives a failing listener, and the audit search's times and query strings."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from datetime import UTC, datetime, timedelta

import pytest

from kubejit.bootstrap import AuditSignal
from kubejit.domain.audit import AuditKind, chain_next
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.console._audit_export import csv_cell, csv_rows, json_lines
from kubejit.entrypoints.console._audit_filters import AuditFilters, moment
from kubejit.entrypoints.console._bell import AuditBell
from kubejit.entrypoints.console._event_views import event_view
from kubejit.entrypoints.console._web import templates

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_csv_cell_that_a_spreadsheet_would_run_gets_an_apostrophe(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["alice", "req-12", 42, '{"a": 1}', "a=b", ""])
def test_other_csv_cells_stay_as_they_are(value: object) -> None:
    assert csv_cell(value) == str(value)


def test_an_exported_row_escapes_what_people_typed() -> None:
    event = chain_next(
        None,
        kind=AuditKind.ACTIVITY_REFUSED,
        actor="=cmd|' /C calc'!A0",
        request_id="req-1",
        data={"method": "GET", "path": "/x", "status": 403, "reason": "no"},
        at=NOW,
    )
    header, row = list(csv.reader(io.StringIO("".join(csv_rows([event])))))
    assert header[:5] == ["seq", "at", "kind", "actor", "request_id"]
    assert row[3] == "'=cmd|' /C calc'!A0"
    assert (row[0], row[4]) == ("1", "req-1")
    assert next(json_lines([event])).startswith('{"actor": "=cmd')  # JSON lines: as recorded


def exec_closed(output: str) -> object:
    return chain_next(
        None,
        kind=AuditKind.ACTIVITY_SESSION_CLOSED,
        actor="alice",
        request_id="req-1",
        data={"command": ["sh", "-c", "cat x"], "closed": "closed", "output": output, "outputBytes": len(output)},
        at=NOW,
    )


def test_an_exec_sessions_output_is_rendered_as_text() -> None:
    view = event_view(exec_closed("<script>alert(1)</script>\n"))  # type: ignore[arg-type]
    assert view.summary.startswith("exec sh -c 'cat x' ended (closed)")
    page = templates().get_template("timeline.html")
    request = type(
        "R",
        (),
        {
            "state": "active",
            "break_glass": False,
            "profile": "ops",
            "namespaces": ["ns"],
            "requester": type("P", (), {"user": "alice"})(),
            "id": "req-1",
        },
    )()
    html = page.render(
        prefix="/console",
        me=request.requester,
        csrf="",
        reader=False,
        title="t",
        request=request,
        events=[view],
        counts=[],
        after=0,
        next_after=None,
        asset=lambda name: name,
    )
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<details>" not in html  # short output is shown as it is


def test_long_output_is_folded() -> None:
    view = event_view(exec_closed("".join(f"line {n}\n" for n in range(40))))  # type: ignore[arg-type]
    assert view.long_output


def test_the_bell_wakes_a_waiting_stream_from_another_thread() -> None:
    bell = AuditBell()

    async def wait() -> tuple[bool, bool]:
        with bell.listening() as waiter:
            quiet = await waiter.wait(0.05)  # nothing rang
            threading.Timer(0.05, bell.ring).start()
            started = asyncio.get_running_loop().time()
            rung = await waiter.wait(5)
            assert asyncio.get_running_loop().time() - started < 1
            return quiet, rung

    assert asyncio.run(wait()) == (False, True)
    bell.ring()  # nobody listens any more: nothing happens


def test_the_audit_signal_calls_every_listener_even_after_one_fails() -> None:
    called: list[str] = []

    def failing() -> None:
        raise RuntimeError("boom")

    signal = AuditSignal([lambda: called.append("checkpointer"), failing])
    signal.listen(lambda: called.append("console"))
    signal()
    assert called == ["checkpointer", "console"]


def test_search_times_are_iso_in_utc_or_a_duration_ago() -> None:
    assert moment("2026-11-28T12:00", "since", NOW) == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert moment("2026-11-28T12:00:00+01:00", "since", NOW) == datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    assert moment("2h", "since", NOW) == NOW - timedelta(hours=2)
    assert moment("", "since", NOW) is None
    with pytest.raises(InvalidInput, match="until: 'yesterday'"):
        moment("yesterday", "until", NOW)


def test_the_next_page_keeps_the_filters() -> None:
    filters = AuditFilters(("alert.raised", "activity.exec"), actor="alice", request="req-1", after=5)
    assert filters.query_string(after=9) == "kind=alert.raised&kind=activity.exec&actor=alice&request=req-1&after=9"
    assert filters.query_string(after=0) == "kind=alert.raised&kind=activity.exec&actor=alice&request=req-1"
