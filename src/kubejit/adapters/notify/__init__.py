"""Notifications: telling people that a request waits for them, was decided, that a grant starts or ends, or that
an alert rule fired on a grant (``alert.raised``, whose generic body adds an ``alert`` block).

The broker's services call a :class:`~kubejit.ports.Notifier`; the one here posts to webhooks (generic JSON
receivers and Slack-compatible incoming webhooks) without ever holding up the workflow. ``kubejit.bootstrap``
builds it from the configured webhooks.

Behind this API: ``_targets`` (a target's URL, format, filter, trust and headers), ``_rendering`` (the message
bodies), ``_delivery`` (one attempt and what its answer means), ``_lane`` (one target's queue, worker thread and
retries) and ``_notifier`` (the facade that starts and stops the lanes).
"""

from kubejit.adapters.notify._notifier import WebhookNotifier
from kubejit.adapters.notify._rendering import generic_payload, slack_payload
from kubejit.adapters.notify._targets import WebhookTarget

__all__ = ["WebhookNotifier", "WebhookTarget", "generic_payload", "slack_payload"]
