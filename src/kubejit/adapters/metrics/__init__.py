"""Prometheus metrics of the broker and the gateway.

The broker's registry (:class:`BrokerMetrics`) is served at the broker's ``/metrics``; the gateway's
(:class:`GatewayMetrics`) on the gateway's separate metrics listener. Counts the services already keep are read
at scrape time through a view (:class:`KeeperView`, :class:`GatewayView`); events are observed through the
registries' methods, which bound every label value (``_labels``). ``kubejit.bootstrap`` and the gateway's
entrypoint build them; docs/operations.md ("Metrics and alerts") lists every metric.

Anomaly alerts: call :meth:`BrokerMetrics.alert_raised` with the rule's name once per alert raised.

Behind this API: ``_labels`` (bounded label values), ``_keeper`` (the broker's scrape-time collector),
``_broker`` (the broker's registry) and ``_gateway`` (the gateway's).
"""

from kubejit.adapters.metrics._broker import BrokerMetrics
from kubejit.adapters.metrics._gateway import GatewayMetrics, GatewayView
from kubejit.adapters.metrics._keeper import KeeperView
from kubejit.adapters.metrics._labels import RESOURCE_CLASSES, VERBS

__all__ = ["RESOURCE_CLASSES", "VERBS", "BrokerMetrics", "GatewayMetrics", "GatewayView", "KeeperView"]
