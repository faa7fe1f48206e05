"""Anomalies in what people do with their grants: the alert rules a policy names, and the detector that applies
them to the live activity stream.

Pure values and logic, no I/O: ``adapters/policy_file`` builds the rules (``spec.alerts``) and
``services/anomaly_watch`` feeds the detector as gateways' activity batches are recorded, then audits, notifies
and (for ``action: revoke``) revokes. Behind this API: ``_rules`` (kinds, defaults, checks), ``_activity`` (an
audit event as plain values), ``_matching`` (what each kind counts) and ``_detector`` (windows and alerts).
"""

from kubejit.domain.anomalies._activity import Activity, GrantFacts, activity_of
from kubejit.domain.anomalies._detector import Alert, Detector
from kubejit.domain.anomalies._rules import (
    DEFAULTS,
    MAX_THRESHOLD,
    Action,
    AlertRule,
    KindDefaults,
    RuleKind,
    alert_rule_issues,
    parameter_problem,
    parameters_of,
    rule_with_defaults,
)

ALERT_EVENT = "alert.raised"  # the audit kind's value, and the notification event webhooks filter on

__all__ = [
    "ALERT_EVENT",
    "DEFAULTS",
    "MAX_THRESHOLD",
    "Action",
    "Activity",
    "Alert",
    "AlertRule",
    "Detector",
    "GrantFacts",
    "KindDefaults",
    "RuleKind",
    "activity_of",
    "alert_rule_issues",
    "parameter_problem",
    "parameters_of",
    "rule_with_defaults",
]
