"""The message bodies webhooks receive: a generic JSON document, or a Slack-compatible message.

Why it exists: what people read is decided here and nowhere else. Bodies carry what people need to act (who,
which profile, where, why, until when, the request id) and no secrets: no tokens, no target headers. Slack text
is escaped so a request reason cannot mention ``@channel`` or forge links, and long texts are cut short.
A broker with a console adds a link to the request's page (the console's own URL, never user text).
The delivery lanes (``_lane``) call :func:`render`; tests and receivers' authors may call the payload functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from kubejit.domain.durations import format_duration
from kubejit.ports import Notification

_MAX_REASON_CHARS = 500
_MAX_MESSAGE_CHARS = 1000


def render(notification: Notification, body_format: str, *, console_url: str | None = None) -> bytes:
    """The UTF-8 JSON body of ``notification`` in ``body_format`` (``generic`` or ``slack``); with the broker's
    ``console_url``, the body links the request's page in the console (generic: ``console_url``; Slack: a link)."""
    payload = _RENDERERS[body_format](notification)
    if console_url is not None:
        payload = with_console_link(payload, body_format, request_page(console_url, notification.request.id))
    return json.dumps(payload, ensure_ascii=False).encode()


def request_page(console_url: str, request_id: str) -> str:
    """The request's page in the console (request ids are ``req-`` and hex digits: nothing to escape)."""
    return f"{console_url}/requests/{quote(request_id, safe='')}"


def with_console_link(payload: dict[str, Any], body_format: str, page: str) -> dict[str, Any]:
    """``payload`` with a link to the request's page: a field of the generic body, a context line in Slack's."""
    if body_format != "slack":
        return {**payload, "console_url": page}
    link = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{page}|Open in the kubejit console>"}]}
    return {**payload, "blocks": [*payload["blocks"], link]}


def generic_payload(notification: Notification) -> dict[str, Any]:
    """The JSON a generic receiver gets: the event, when, a human message and the request's facts."""
    request = notification.request
    return {
        # Extra blocks first (an alert's rule, user, summary and evidence: "alert"), so the fields below win.
        **notification.details,
        "event": notification.event,
        "at": _iso(notification.at),
        "message": notification.message,
        "request": {
            "id": request.id,
            "requester": request.requester.user,
            "groups": sorted(request.requester.groups),
            "profile": request.profile,
            "namespaces": list(request.namespaces),
            "state": str(request.state),
            "reason": request.reason,
            "duration_seconds": int(request.duration.total_seconds()),
            "created_at": _iso(request.created_at),
            "starts_at": _iso(request.starts_at),
            "ends_at": _iso(request.ends_at),
            "approvers": list(request.approvers),
            "break_glass": request.break_glass,
        },
    }


def slack_payload(notification: Notification) -> dict[str, Any]:
    """A Slack-compatible message: a one-line ``text`` (also the notification fallback) and ``blocks``."""
    request = notification.request
    who = _slack_escape(request.requester.user)
    profile = _slack_escape(request.profile)
    where = _slack_escape(", ".join(request.namespaces)) if request.namespaces else "cluster-wide"
    why = _slack_escape(_cut(request.reason, _MAX_REASON_CHARS)) or "(no reason given)"
    until = _until(notification)
    message = _slack_escape(_cut(notification.message, _MAX_MESSAGE_CHARS))
    footer = f"request `{_slack_escape(request.id)}` · {_slack_escape(notification.event)} · {_iso(notification.at)}"
    flag = " [break-glass]" if request.break_glass else ""
    text = f"{message} | {who}: {profile} in {where}, until {until}, why: {why} (request {request.id}){flag}"
    fields = [
        f"*Who*\n{who}",
        f"*Profile*\n{profile}",
        f"*Namespaces*\n{where}",
        f"*Until*\n{until}",
        f"*Why*\n{why}",
        f"*State*\n{request.state}{flag}",
    ]
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{message}*"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": footer}],
            },
        ],
    }


_RENDERERS: Mapping[str, Callable[[Notification], dict[str, Any]]] = {
    "generic": generic_payload,
    "slack": slack_payload,
}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escape(text: str) -> str:
    """Slack reads ``<...>`` as links and mentions (``<!channel>``); user text must stay plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _until(notification: Notification) -> str:
    request = notification.request
    if request.ends_at is not None:
        return request.ends_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{format_duration(request.duration)} once active"
