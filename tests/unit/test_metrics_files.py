"""The Grafana dashboard and the Prometheus alert rules in deploy/ name only metrics (and labels) that the broker's
and the gateway's registries export: renaming a metric without updating them fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from kubejit.adapters.metrics import BrokerMetrics, GatewayMetrics
from tests.unit.test_metrics import gateway_view, keeper_view

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "kubejit-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "kubejit-alerts.yaml"

_METRIC = re.compile(r"\bkubejit_[a-z0-9_]+")
_SELECTOR = re.compile(r"(kubejit_[a-z0-9_]+)\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_TARGET_LABELS = {"instance", "job", "le"}  # added by Prometheus when scraping, or the histogram's own


def exported() -> dict[str, set[str]]:
    """Every sample name both registries export, with its label names, once each labelled metric was observed."""
    broker = BrokerMetrics(keeper_view())
    broker.operation("submit", "ok")
    broker.api_error("Refused")
    broker.approved_after("p", 1)
    broker.expired_late("p", 1)
    broker.guardrail_denied("p", "g.deny[0]", "gateway")
    broker.alert_raised("r")
    broker.delivery_attempted("t", "delivered", 0.1)
    gateway = GatewayMetrics(gateway_view())
    gateway.request_served(
        verb="get", resource="pods", subresource="", api_group="", is_resource=True, status=200, seconds=0.1
    )
    gateway.guardrail_denied("p", "g.deny[0]")
    names: dict[str, set[str]] = {}
    for registry in (broker.registry, gateway.registry):
        for family in registry.collect():
            for sample in family.samples:
                names.setdefault(sample.name, set()).update(sample.labels)
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", []) if target.get("expr")
    ]
    assert found, f"{DASHBOARD} has no PromQL expressions"
    return found


def alert_expressions() -> list[str]:
    document = yaml.safe_load(ALERTS.read_text())
    found = [str(rule["expr"]) for group in document["groups"] for rule in group["rules"]]
    assert found, f"{ALERTS} has no rules"
    return found


def problems(expressions: list[str], names: dict[str, set[str]]) -> list[str]:
    found: list[str] = []
    for expression in expressions:
        used = set(_METRIC.findall(expression))
        found += [f"{expression}: no metric {name}" for name in sorted(used - set(names))]
        known_labels = set().union(*(names.get(name, set()) for name in used)) | _TARGET_LABELS
        for metric, matchers in _SELECTOR.findall(expression):
            for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers):
                if label not in names.get(metric, set()) | _TARGET_LABELS:
                    found.append(f"{expression}: {metric} has no label {label}")
        for grouping in _GROUPING.findall(expression):
            for label in (part.strip() for part in grouping.split(",") if part.strip()):
                if label not in known_labels:
                    found.append(f"{expression}: no metric it uses has the label {label}")
    return found


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_and_label_used_exists(source: str) -> None:
    expressions = dashboard_expressions() if source == "dashboard" else alert_expressions()
    assert problems(expressions, exported()) == []


def test_the_check_catches_a_renamed_metric_and_an_unknown_label() -> None:
    names = exported()
    assert problems(["sum(kubejit_pending_request)"], names) == [
        "sum(kubejit_pending_request): no metric kubejit_pending_request"
    ]
    assert problems(['kubejit_leader{user="alice"}'], names) == [
        'kubejit_leader{user="alice"}: kubejit_leader has no label user'
    ]
    assert problems(["sum by (user) (kubejit_alerts_total)"], names) != []


def test_every_alert_has_a_name_a_severity_and_a_summary() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            assert re.fullmatch(r"Kubejit[A-Za-z]+", rule["alert"])
            assert rule["labels"]["severity"] in ("critical", "warning")
            assert rule["annotations"]["summary"]


def test_the_dashboard_panels_do_not_overlap() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        box = panel["gridPos"]
        mine = {(x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])}
        assert not cells & mine, panel["title"]
        cells |= mine


OPERATIONS = ROOT / "docs" / "operations.md"
_CODE_SPAN = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)
_LABEL_LIST = re.compile(r"(kubejit_[a-z0-9_]+)\{([a-z_][a-z0-9_]*(?:,\s*[a-z_][a-z0-9_]*)*)\}")


def with_families(names: dict[str, set[str]]) -> dict[str, set[str]]:
    """The sample names plus each histogram's own name (what people write in prose and in tables)."""
    families = {
        name.removesuffix("_bucket"): labels - {"le"} for name, labels in names.items() if name.endswith("_bucket")
    }
    return {**names, **families}


def docs_code_spans(text: str) -> list[str]:
    """The code spans and blocks of a Markdown page that name a kubejit metric."""
    spans = [block or inline for block, inline in _CODE_SPAN.findall(text)]
    return [span for span in spans if _METRIC.search(span)]


def docs_problems(text: str, names: dict[str, set[str]]) -> list[str]:
    """What a page's code spans get wrong: unknown metrics and labels, in PromQL or as ``name{label,label}``."""
    spans = docs_code_spans(text)
    found = problems(spans, names)
    for span in spans:
        for metric, listed in _LABEL_LIST.findall(span):
            unknown = sorted({label.strip() for label in listed.split(",")} - names.get(metric, set()))
            found += [f"{span}: {metric} has no label {label}" for label in unknown if metric in names]
    return found


def test_the_metric_names_in_docs_operations_are_exported() -> None:
    assert docs_code_spans(OPERATIONS.read_text()), f"{OPERATIONS} names no metric in a code span"
    assert docs_problems(OPERATIONS.read_text(), with_families(exported())) == []


def test_the_docs_check_catches_a_counter_without_total_and_an_unknown_label() -> None:
    names = with_families(exported())
    page = "| `increase(kubejit_keeper_failures[10m]) > 0` | ... |\n| `kubejit_alerts_total{rule,user}` | counter |\n"
    assert docs_problems(page, names) == [
        "increase(kubejit_keeper_failures[10m]) > 0: no metric kubejit_keeper_failures",
        "kubejit_alerts_total{rule,user}: kubejit_alerts_total has no label user",
    ]
    assert docs_problems("`kubejit_expiry_lag_seconds{profile}` and `kubejit_keeper_failures_total`", names) == []
