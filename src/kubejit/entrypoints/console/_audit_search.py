"""The audit search: ``/console/audit`` (filters and pages of events) and ``/console/audit/verify`` (the whole
chain checked, as ``kubejit audit verify`` shows it).

Only for those who may read the whole trail (auditors and admins, the audit service's rule; 403 otherwise, as for
``/api/v1/audit/verify`` and ``/export``). The search page also shows the checkpointer's last verdict on the chain
(cheap: kept in memory), and links to the exports (``_audit_export``) of the same filters.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from kubejit.entrypoints.console._audit_filters import KINDS, Filters, pages, require_reader, selection
from kubejit.entrypoints.console._event_views import event_view
from kubejit.entrypoints.console._web import PREFIX, ConsoleRoute, Visitor, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
PAGE = 100

# Problems that are not plain edits of events, and where to look (the same advice `kubejit audit verify` gives).
ADVICE = {
    "rollback": "an older checkpoint was put back: look at the history of the checkpoint's ConfigMap or file",
    "stale-checkpoint": "no checkpoint was written for a while: the leader's log says why checkpoints fail",
}


@router.get("/audit")
def audit_search(visitor: Visitor, filters: Filters) -> Response:
    require_reader(visitor)
    chosen = selection(visitor, filters)
    found = next(pages(visitor, chosen, filters.after, PAGE + 1), [])
    views = [event_view(e) for e in found[:PAGE]]
    checkpointer = visitor.broker.checkpointer
    return render(
        "audit.html",
        visitor,
        title="Audit trail",
        filters=filters,
        kinds=KINDS,
        events=views,
        next_page=filters.query_string(after=views[-1].seq) if len(found) > PAGE else None,
        first_page=filters.query_string(after=0) if filters.after else None,
        export=filters.query_string(after=0),
        chain_ok=checkpointer.chain_ok,
        checked_at=checkpointer.checked_at,
    )


@router.get("/audit/verify")
def audit_verify(visitor: Visitor) -> Response:
    result = visitor.broker.audit.verify(visitor.who)  # refused unless auditor or admin
    kinds = {str(p.kind) for p in result.problems}
    advice = [(kind, ADVICE[kind]) for kind in sorted(kinds & ADVICE.keys())]
    return render("audit_verify.html", visitor, title="Audit chain verification", result=result, advice=advice)
