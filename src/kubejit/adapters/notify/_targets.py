"""Where notifications go: a webhook target's URL, format, event filter, trusted CA and extra headers.

Why it exists: a target is checked once, when it is configured (``kubejit.bootstrap`` builds one
:class:`WebhookTarget` per configured webhook), so a bad URL, header or CA bundle fails at start-up and not at
the first delivery. A target's URL and headers may be credentials (a Slack webhook URL is one): everything that
names a target in logs, ``repr`` or failure reasons uses :attr:`WebhookTarget.label`, scheme and host only.
The two transport rules (plain HTTP only to loopback, a PEM bundle as the only trust) come from
``kubejit.transport``; this module only words them for a webhook.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from kubejit.domain.errors import InvalidInput
from kubejit.transport import NOT_AN_HTTP_URL, PLAIN_HTTP_OFF_LOOPBACK, TrustError, trust_context, url_problem


@dataclass(frozen=True, repr=False)
class WebhookTarget:
    """Where to post, in which format, for which events (None: all), trusting which CA, with which headers.

    ``url`` and ``headers`` may hold credentials (a Slack webhook URL is one): they are never logged, shown in
    ``repr`` or put in failure reasons; :attr:`label` names the target instead.
    """

    url: str
    format: Literal["generic", "slack"] = "generic"
    events: frozenset[str] | None = None
    ca_pem: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = url_problem(self.url)
        if problem == NOT_AN_HTTP_URL:
            raise InvalidInput(f"webhook {self.label}: the URL must be an absolute https URL")
        if problem == PLAIN_HTTP_OFF_LOOPBACK:
            raise InvalidInput(f"webhook {self.label}: use https (plain http is allowed only on loopback, for tests)")
        if self.format not in ("generic", "slack"):
            raise InvalidInput(f"webhook {self.label}: format must be 'generic' or 'slack', not {self.format!r}")
        if self.events is not None:
            object.__setattr__(self, "events", frozenset(self.events))
        for name, value in self.headers.items():
            if not isinstance(name, str) or not isinstance(value, str) or any(c in name + value for c in "\r\n\0"):
                raise InvalidInput(f"webhook {self.label}: header names and values must be single-line strings")
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        if self.ca_pem is not None:
            self.ssl_context()  # fail at configuration time, not at the first delivery

    @property
    def label(self) -> str:
        """A name for logs and failure reasons: format, scheme and host, never the path or query."""
        parts = urlsplit(self.url)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        host = parts.hostname or "?"
        more = "/..." if parts.path.strip("/") or parts.query else ""
        return f"{self.format} {parts.scheme or '?'}://{host}{port}{more}"

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events

    def ssl_context(self) -> ssl.SSLContext:
        """Only ``ca_pem`` is trusted when given; the system's roots otherwise (the adapters' PEM trust rule)."""
        try:
            return trust_context(cadata=self.ca_pem)
        except TrustError as error:
            raise InvalidInput(f"webhook {self.label}: ca_pem: {error}") from error

    def __repr__(self) -> str:
        events = "all" if self.events is None else ",".join(sorted(self.events))
        return f"WebhookTarget({self.label}, events={events})"
