"""The console's live page, a grant's timeline and the audit search end to end: a real broker and a real gateway
(separate processes), real kubectl through the gateway, headless Chromium signed in at the dev issuer.

dave (auditor) watches /console/live while alice's kubectl reads a pod and is refused Secrets: the request and
the alert it triggers (a ``forbidden-burst`` rule of threshold 1) appear in his table without a reload, over
EventSource, the alert within 1.5 s of kubectl's return (bench/console_alert_latency.py measures the figure).
alice's exec prints ``<script>``: her grant's timeline shows it as text, long output folded. dave filters the
audit trail and exports it as JSON lines and CSV; alice (no auditor) is refused the search and its exports, sees
only her own grants on the live page and only her own events on its stream. Screenshots go to
build/test-artifacts/console/, and axe-core finds no serious or critical violation on any page.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, expect

from kubejit.devcluster.cluster import DevCluster
from tests.conftest import eventually
from tests.e2e.gateway_env import GATEWAY_POLICY, GatewayEnv, module_gateway_env, namespace_with_pod
from tests.e2e.test_anomalies import session  # a grant and a kubeconfig that uses it
from tests.e2e.test_console import chromium, person, shot, sign_in, web_sign_in  # noqa: F401 - the fixture too

pytestmark = pytest.mark.cluster

POLICY = (
    GATEWAY_POLICY + "  alerts:\n    - {name: console-403, kind: forbidden-burst, threshold: 1, profiles: [debug]}\n"
)
ARRIVAL = 1.5  # seconds from kubectl's return to the row in the browser
WEBSOCKET = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "true"}  # the transport whose output the gateway records


env = module_gateway_env("console-live", policy=POLICY)


@pytest.fixture
def ns(devcluster: DevCluster) -> str:
    """A namespace with a running pod ``app``."""
    return namespace_with_pod(devcluster)


def test_the_live_page_shows_a_request_and_its_alert_as_they_happen(
    env: GatewayEnv,
    ns: str,
    chromium: Browser,  # noqa: F811
) -> None:
    grant, config = session(env, "alice", "debug", ns)
    dave = person(chromium)
    sign_in(dave, env.broker, "dave", "/console/live")
    expect(dave.locator(f"#grant-{grant}")).to_contain_text("alice with debug")
    expect(dave.locator("#live-status")).to_contain_text("Live:")  # the EventSource is open
    dave.evaluate("() => { window.notReloaded = true; }")

    assert env.kubectl(config, "get", "pod", "app").returncode == 0
    request_row = dave.locator("#live-events tr.event-new", has_text=f"/api/v1/namespaces/{ns}/pods/app")
    expect(request_row).to_contain_text("activity.request")
    expect(request_row).to_contain_text("→ 200")

    refused = env.kubectl(config, "get", "secrets")
    returned = time.monotonic()
    assert refused.returncode != 0
    alert_row = dave.locator("#live-events tr.event-new.event-alert", has_text=grant)
    alert_row.wait_for(timeout=10_000)
    took = time.monotonic() - returned
    expect(alert_row).to_contain_text("ALERT console-403")
    assert took < ARRIVAL, f"the alert reached the console {took:.2f} s after kubectl returned"
    assert dave.evaluate("() => window.notReloaded") is True  # appended by the stream, not by a reload
    shot(dave, "live-1-auditor")

    dave.reload()  # without the stream, the page itself lists the newest events
    expect(dave.locator("#live-events tr.event-alert", has_text=grant).first).to_contain_text("ALERT console-403")


def test_a_timeline_shows_exec_commands_and_their_output_as_text(
    env: GatewayEnv,
    ns: str,
    chromium: Browser,  # noqa: F811
) -> None:
    grant, config = session(env, "alice", "ops", ns)
    script = "echo '<script>window.pwned = 1</script>'"
    shown = env.kubectl(config, "exec", "app", "--", "sh", "-c", script, env=WEBSOCKET)
    assert shown.returncode == 0, shown.stderr
    long = env.kubectl(config, "exec", "app", "--", "sh", "-c", "seq 1 40", env=WEBSOCKET)
    assert long.returncode == 0, long.stderr

    def both_closed() -> bool:
        return len([e for e in env.audit(grant) if e["kind"] == "activity.session-closed"]) == 2

    assert eventually(both_closed, timeout=10)
    alice = person(chromium)
    sign_in(alice, env.broker, "alice", f"/console/requests/{grant}/timeline")
    timeline = alice.locator("ol.timeline")
    for kind in ("request.submitted", "request.approved", "grant.activated", "activity.exec"):
        expect(timeline).to_contain_text(kind)
    expect(timeline).to_contain_text("exec sh -c 'seq 1 40' started")
    printed = alice.locator("pre.output", has_text="<script>")
    expect(printed).to_contain_text("<script>window.pwned = 1</script>")  # the text itself, not markup
    assert alice.evaluate("() => window.pwned") is None
    assert alice.locator("ol.timeline script").count() == 0
    folded = alice.locator("details", has_text="What it printed (")  # 40 lines and the exec status: folded
    expect(folded).to_have_count(1)
    expect(folded.locator("pre.output")).to_be_hidden()  # long output is folded
    folded.locator("summary").click()
    expect(folded.locator("pre.output")).to_contain_text("40")
    shot(alice, "timeline-1-exec")


def test_the_audit_search_filters_and_exports(
    env: GatewayEnv,
    devcluster: DevCluster,
    ns: str,
    chromium: Browser,  # noqa: F811
) -> None:
    grant, config = session(env, "alice", "debug", ns)
    assert env.kubectl(config, "get", "secrets").returncode != 0
    assert eventually(lambda: any(e["kind"] == "alert.raised" for e in env.audit(grant)), timeout=10)

    dave = person(chromium)
    sign_in(dave, env.broker, "dave", f"/console/audit?kind=alert.raised&request={grant[:12]}")
    rows = dave.locator("table.events tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("alert.raised")
    expect(rows.first).to_contain_text(grant)
    expect(dave.locator("#kind")).to_have_value("alert.raised")
    shot(dave, "audit-1-search")
    dave.get_by_role("link", name="Verify the whole chain now").click()
    expect(dave.locator(".notice")).to_contain_text("The audit trail is intact")
    shot(dave, "audit-2-verify")

    with web_sign_in(devcluster, env.broker, "dave") as auditor:
        lines = auditor.get("/console/audit/export.jsonl", params={"request": grant})
        assert lines.status_code == 200, lines.text
        assert lines.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in lines.text.splitlines()]
        assert {e["request_id"] for e in events} == {grant}
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "request.submitted"
        assert {"activity.refused", "alert.raised"} <= set(kinds)
        assert all(e["hash"] and e["prev_hash"] for e in events)  # the complete records

        table = auditor.get("/console/audit/export.csv", params={"request": grant, "kind": "activity.refused"})
        assert table.status_code == 200, table.text
        assert "attachment" in table.headers["content-disposition"]
        header, *rows_ = list(csv.reader(io.StringIO(table.text)))
        assert header[:5] == ["seq", "at", "kind", "actor", "request_id"]
        assert rows_
        assert {(r[2], r[3], r[4]) for r in rows_} == {("activity.refused", "alice", grant)}

        future = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1).strftime("%Y-%m-%dT%H:%M")
        assert "No event matches" in auditor.get("/console/audit", params={"since": future}).text
        past = auditor.get("/console/audit", params={"until": "2000-01-01T00:00", "request": grant}).text
        assert "No event matches" in past
        assert auditor.get("/console/audit", params={"kind": "no.such-kind"}).status_code == 400


def test_who_is_no_auditor_is_refused_the_audit_search_and_sees_only_their_own_grants(
    env: GatewayEnv,
    devcluster: DevCluster,
    ns: str,
    chromium: Browser,  # noqa: F811
) -> None:
    carols, carol_config = session(env, "carol", "debug", ns)
    alices, alice_config = session(env, "alice", "debug", ns)
    since = int(time.time()) - 5
    with web_sign_in(devcluster, env.broker, "alice") as alice:
        for path in (
            "/console/audit",
            "/console/audit/export.jsonl",
            "/console/audit/export.csv",
            "/console/audit/verify",
        ):
            assert alice.get(path).status_code == 403, path
        page = alice.get("/console/live").text
        assert alices in page
        assert carols not in page
        assert 'href="/console/audit"' not in page  # no Audit link either

        assert env.kubectl(carol_config, "get", "pod", "app").returncode == 0
        assert env.kubectl(alice_config, "get", "pod", "app").returncode == 0
        seen = stream_until(alice, f"/console/live/stream?after=0&since={since}", alices)
        assert alices in seen
        assert carols not in seen

    browser_alice = person(chromium)
    sign_in(browser_alice, env.broker, "alice", "/console/live")
    expect(browser_alice.locator(f"#grant-{alices}")).to_be_visible()
    expect(browser_alice.locator(f"#grant-{carols}")).to_have_count(0)
    shot(browser_alice, "live-2-requester")


def stream_until(client: httpx.Client, path: str, wanted: str, timeout: float = 10) -> str:
    """What the event stream sent until an activity event of ``wanted`` arrived (or ``timeout`` passed)."""
    seen = ""
    deadline = time.monotonic() + timeout
    with client.stream("GET", path, timeout=timeout) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            seen += line + "\n"
            if line.startswith("data: ") and wanted in line and '"activity.request"' in line:
                return seen
            if time.monotonic() > deadline:
                break
    return seen


def test_the_stream_is_for_signed_in_people_only(env: GatewayEnv) -> None:
    answer = httpx.get(f"{env.broker.url}/console/live/stream", timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login")
