"""Notifications: telling people that a request waits for them, was decided, or that a grant starts or ends.

The broker's services call a :class:`~kubejit.ports.Notifier`; the one here posts to webhooks (generic JSON
receivers and Slack-compatible incoming webhooks) without ever holding up the workflow.
"""

from kubejit.adapters.notify.webhooks import WebhookNotifier, WebhookTarget, generic_payload, slack_payload

__all__ = ["WebhookNotifier", "WebhookTarget", "generic_payload", "slack_payload"]
