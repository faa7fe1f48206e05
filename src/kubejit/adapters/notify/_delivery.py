"""One delivery attempt to a webhook, and what its answer means: delivered, try again, or give up.

Why it exists: the delivery rules are in one place. 2xx is delivered; 408, 429, 5xx, timeouts and connection
errors are retried (with the receiver's ``Retry-After`` in seconds, if any); any other answer (other 4xx,
redirects, which are never followed) is permanent. Reasons name the target by its label and never quote the
URL (it can be a credential); a 4xx reason quotes the start of the receiver's answer. The lanes (``_lane``)
call :func:`post_once` for every attempt and :func:`delivery_headers` once per notification.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import httpx

from kubejit.adapters.notify._targets import WebhookTarget
from kubejit.ports import Notification

_MAX_RESPONSE_SNIPPET = 200


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Answer:
    """How one attempt went; ``reason`` is empty when delivered, ``retry_after`` is the receiver's wish."""

    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None


def delivery_headers(notification: Notification, target: WebhookTarget) -> dict[str, str]:
    """The request headers of every attempt to deliver ``notification`` to ``target``."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "kubejit-notifier",
        "X-Kubejit-Event": notification.event,
        "X-Kubejit-Delivery": uuid.uuid4().hex,  # the same on every retry, so receivers can drop duplicates
        **target.headers,
    }


def post_once(
    client: httpx.Client, target: WebhookTarget, body: bytes, headers: Mapping[str, str], timeout: float
) -> Answer:
    """POST ``body`` to ``target`` once; ``timeout`` (seconds, the client's) is only named in the reason."""
    try:
        with client.stream("POST", target.url, content=body, headers=headers) as response:
            status = response.status_code
            snippet = ""
            if 400 <= status < 500:
                snippet = _snippet(response)
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except httpx.TimeoutException:
        return Answer(Outcome.RETRY, f"no answer within {timeout:g}s")
    except httpx.TransportError as error:
        return Answer(Outcome.RETRY, f"could not connect ({type(error).__name__}: {_scrub(target, str(error))})")
    except httpx.HTTPError as error:
        return Answer(Outcome.PERMANENT, f"{type(error).__name__}: {_scrub(target, str(error))}")
    if 200 <= status < 300:
        return Answer(Outcome.DELIVERED)
    if status in (408, 429) or status >= 500:
        return Answer(Outcome.RETRY, f"HTTP {status}", retry_after)
    if 300 <= status < 400:
        return Answer(Outcome.PERMANENT, f"HTTP {status}: redirects are not followed; configure the final URL")
    if 400 <= status < 500:
        return Answer(Outcome.PERMANENT, f"HTTP {status}" + (f": {snippet}" if snippet else ""))
    return Answer(Outcome.RETRY, f"HTTP {status}")


def _scrub(target: WebhookTarget, text: str) -> str:
    """Error texts may quote the URL; the path and query of a webhook URL can be a credential."""
    return text.replace(target.url, target.label)


def _snippet(response: httpx.Response) -> str:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= _MAX_RESPONSE_SNIPPET:
            break
    text = data[:_MAX_RESPONSE_SNIPPET].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the exponential backoff is good enough
    return seconds if seconds >= 0 else None
