"""The web console, served by the broker under ``/console``: sign in with OIDC, request access, follow your
requests, review others' in the approvals inbox, revoke and extend grants (docs/console.md).

Server-rendered (Jinja2 templates in ``templates/``, a stylesheet and a few lines of script in ``static/``: no
JavaScript build step, every page works as plain HTML forms). ``entrypoints/api/app.py`` includes :data:`router`.
Every decision stays on the server: the pages call the broker's access service with the identity in the signed-in
person's verified ID token, as the API does.

One module per group of pages, each with its own APIRouter on ``_web.ConsoleRoute``: ``_sign_in`` (login,
callback, logout), ``_request_page`` (request access, checked as you type), ``_my_requests`` (your requests, one
request's page and its actions), ``_inbox`` (approvals), ``_live`` (active grants and the live tail of activity
over server-sent events, woken by ``_bell``), ``_timeline`` (a grant's story from the audit trail),
``_audit_search`` and ``_audit_export`` (the audit search, its exports, the chain's verification) and
``_static``. What they share is in ``_web`` (settings,
the signed-in visitor, CSRF-checked forms, rendering, errors), ``_cookies`` (the encrypted session) and
``_views`` (what pages show). A new page group is a module with its router, added to :data:`PAGE_ROUTERS`.
"""

from __future__ import annotations

from fastapi import APIRouter

from kubejit.entrypoints.console import (
    _audit_export,
    _audit_search,
    _inbox,
    _live,
    _my_requests,
    _request_page,
    _sign_in,
    _static,
    _timeline,
)
from kubejit.entrypoints.console._static import asset_url
from kubejit.entrypoints.console._web import PREFIX, templates

PAGE_ROUTERS: tuple[APIRouter, ...] = (
    _sign_in.router,
    _request_page.router,
    _my_requests.router,
    _inbox.router,
    _live.router,
    _timeline.router,
    _audit_search.router,
    _audit_export.router,
    _static.router,
)

router = APIRouter(include_in_schema=False)
for _page_router in PAGE_ROUTERS:
    router.include_router(_page_router)
templates().globals["asset"] = asset_url

__all__ = ["PAGE_ROUTERS", "PREFIX", "router"]
