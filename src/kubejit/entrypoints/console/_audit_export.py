"""The audit search's exports: ``/console/audit/export.jsonl`` and ``/console/audit/export.csv``, the events the
search's filters select (all pages), streamed a page at a time.

JSON lines are the events' complete records, as ``GET /api/v1/audit/export`` writes them. CSV has one row per
event (seq, time, kind, actor, request id, the console's summary, the data as JSON, the hashes); every cell that
a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets
a leading apostrophe (:func:`csv_cell`), since recorded data (paths, reasons, exec output) is whatever people
typed. Only for auditors and admins (``_audit_filters.require_reader``, checked before the answer starts).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from kubejit.domain.audit import AuditEvent, timestamp
from kubejit.entrypoints.console._audit_filters import Filters, pages, require_reader, selection
from kubejit.entrypoints.console._event_views import summary_of
from kubejit.entrypoints.console._web import PREFIX, ConsoleRoute, Visitor

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
PAGE = 1000
CSV_COLUMNS = ("seq", "at", "kind", "actor", "request_id", "summary", "data", "prev_hash", "hash")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula."""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def csv_rows(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The header, then one escaped row per event, each as CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flushed(row: Iterable[object]) -> str:
        writer.writerow([csv_cell(cell) for cell in row])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield flushed(CSV_COLUMNS)
    for e in events:
        data = json.dumps(e.data, sort_keys=True, ensure_ascii=False)
        yield flushed(
            (
                e.seq,
                timestamp(e.at),
                e.kind,
                e.actor,
                e.request_id,
                summary_of(e.kind, e.data),
                data,
                e.prev_hash,
                e.hash,
            )
        )


def json_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event.to_json(), sort_keys=True) + "\n"


def _selected(visitor: Visitor, filters: Filters) -> Iterator[AuditEvent]:
    require_reader(visitor)
    chosen = selection(visitor, filters)  # bad filters are refused before the answer starts
    return (event for page in pages(visitor, chosen, filters.after, PAGE) for event in page)


def _download(lines: Iterator[str], media_type: str, name: str) -> StreamingResponse:
    return StreamingResponse(
        (line.encode() for line in lines),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/audit/export.jsonl", response_class=StreamingResponse)
def export_json_lines(visitor: Visitor, filters: Filters) -> StreamingResponse:
    return _download(json_lines(_selected(visitor, filters)), "application/x-ndjson", "kubejit-audit.jsonl")


@router.get("/audit/export.csv", response_class=StreamingResponse)
def export_csv(visitor: Visitor, filters: Filters) -> StreamingResponse:
    return _download(csv_rows(_selected(visitor, filters)), "text/csv; charset=utf-8", "kubejit-audit.csv")
