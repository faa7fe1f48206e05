"""The web console end to end: a real broker process, the dev issuer's real login page, headless Chromium.

alice requests through the form (pre-filled from the link a refusal gives, checked as she types), bob signs in and
approves in his inbox, alice sees the grant active and revokes it; screenshots of each page go to
build/test-artifacts/console/ and axe-core finds no serious or critical violation on any of them. The security
checks run over plain HTTP with the same session cookies (httpx following the same sign-in): a POST without or
with a wrong CSRF token, or from another origin, is 403; bob cannot approve his own request; carol, no approver,
neither sees alice's request in her inbox nor can approve it with a forged form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from tests.axe import serious_violations
from tests.browser import CHROMIUM, chromium_args, chromium_page
from tests.conftest import eventually
from tests.e2e.conftest import WebhookSink

pytestmark = pytest.mark.cluster

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "console"
CONSOLE_POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: console-e2e}
spec:
  admins: {groups: [platform-admins]}
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: debug
      description: read-only look at a payments namespace
      clusterRole: view
      namespaces: ["t-*"]
      maxDuration: 1h
      requesters: {groups: [payments-devs, payments-leads]}
      approval: {approvers: {users: [bob]}, required: 1}
      reason: {required: true, pattern: "^INC-[0-9]+"}
"""


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def console_broker(
    devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink
) -> Iterator[BrokerProcess]:
    """A broker on 127.0.0.1 (its console's public URL is its loopback address) offering the dev issuer for login."""
    directory = tmp_path_factory.mktemp("console-broker")
    policy_file = directory / "policy.yaml"
    policy_file.write_text(CONSOLE_POLICY)
    kubeconfig = install_broker_access(
        devcluster,
        load_policy_file(policy_file),
        directory / "broker.kubeconfig",
        namespace="kubejit-e2e-console",
        role_name="kubejit:broker:e2e-console",
    )
    config = broker_config(
        devcluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace="kubejit-e2e-console",
        webhooks=[{"url": sink.url, "format": "generic"}],
    )
    broker = start_broker(config, log_name="console-broker")
    yield broker
    broker.stop()


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """One headless Debian Chromium for several people: each gets a context of their own (own cookies)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (`apt-get install chromium`)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args())
        yield browser
        browser.close()


def person(browser: Browser) -> Page:
    context = browser.new_context()
    context.set_default_timeout(30_000)
    return context.new_page()


def shot(page: Page, name: str) -> None:
    """Save a screenshot as a test artifact and check the page with axe-core."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    problems = serious_violations(page)
    assert not problems, f"{name}: accessibility violations:\n" + "\n".join(problems)


def sign_in(page: Page, broker: BrokerProcess, user: str, start: str = "/console/requests") -> None:
    """Open ``start`` signed out: the console sends the browser to the dev issuer's login page; pick ``user``, and
    the browser lands back on ``start``, query string and all."""
    page.goto(f"{broker.url}{start}")
    page.locator(f"button[value={user}]").click()
    page.wait_for_url(f"{broker.url}{start}")


@contextmanager
def web_sign_in(cluster: DevCluster, broker: BrokerProcess, user: str) -> Iterator[httpx.Client]:
    """The same sign-in with httpx: a client holding ``user``'s console cookies."""
    with httpx.Client(base_url=broker.url, timeout=30) as client:
        to_issuer = client.get("/console/login")
        assert to_issuer.status_code == 303, to_issuer.text
        login_page = httpx.get(to_issuer.headers["location"], timeout=30)
        transaction = re.search(r'name=transaction value="([^"]+)"', login_page.text)
        assert transaction, login_page.text
        chosen = httpx.post(
            f"{cluster.issuer.pages_url}/authorize",
            data={"transaction": transaction.group(1), "user": user},
            timeout=30,
        )
        assert chosen.status_code == 303, chosen.text
        back = client.get(chosen.headers["location"])
        assert back.status_code == 303, back.text
        yield client


def csrf_of(client: httpx.Client, path: str = "/console/requests") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def request_through_form(client: httpx.Client, namespace: str, reason: str = "INC-9 console") -> str:
    """Submit the request form as ``client``'s person; the new request's id."""
    form = {"csrf": csrf_of(client), "profile": "debug", "namespaces": namespace, "duration": "10m", "reason": reason}
    sent = client.post("/console/request", data=form)
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"]).rsplit("/", 1)[1]


def state_of(client: httpx.Client, request_id: str) -> str:
    page = client.get(f"/console/requests/{request_id}")
    found = re.search(r'class="state state-([a-z-]+)"', page.text)
    assert found, page.text
    return found.group(1)


# ---- the path a person takes ----------------------------------------------------------------------------------------


def test_alice_requests_bob_approves_alice_revokes(
    console_broker: BrokerProcess, sink: WebhookSink, namespace: str, chromium: Browser
) -> None:
    alice, bob = person(chromium), person(chromium)

    # the link a refusal names: the form comes filled in
    sign_in(alice, console_broker, "alice", f"/console/request?profile=debug&namespace={namespace}")
    expect(alice.locator("#profile")).to_have_value("debug")
    expect(alice.locator("#namespaces")).to_have_value(namespace)
    expect(alice.locator("#profile-debug")).to_contain_text("What a grant of debug allows")
    shot(alice, "1-request-form")

    alice.locator("#reason").fill("because")  # checked as she types: the reason must name a ticket
    expect(alice.locator("#error-reason")).to_contain_text("must match")
    alice.locator("#duration").fill("15m")
    alice.locator("button", has_text="Send the request").click()  # the server refuses it too
    expect(alice.locator("#error-reason")).to_contain_text("must match")
    shot(alice, "2-request-form-errors")

    alice.locator("#reason").fill("INC-42 look at the payments queue")
    expect(alice.locator("#error-reason")).to_be_empty()
    alice.locator("button", has_text="Send the request").click()
    alice.wait_for_url(re.compile(r".*/console/requests/req-[0-9a-f]+$"))
    request_id = alice.url.rsplit("/", 1)[1]
    expect(alice.locator(".lead")).to_contain_text("pending")
    shot(alice, "3-request-pending")

    sign_in(bob, console_broker, "bob", "/console/inbox")
    item = bob.locator(f"#item-{request_id}").locator("xpath=..")
    expect(item).to_contain_text("INC-42 look at the payments queue")
    shot(bob, "4-inbox")
    item.get_by_label("Comment on this request").fill("ok for INC-42")
    item.get_by_role("button", name="Approve request").click()
    expect(bob.locator(".notice")).to_contain_text(request_id)
    expect(bob.locator(".empty")).to_contain_text("Nothing waits for your review")
    shot(bob, "5-inbox-done")

    page = f"{console_broker.url}/console/requests/{request_id}"

    def active() -> bool:
        alice.goto(page)
        return "Revoke now" in alice.content()

    assert eventually(active, timeout=20, interval=0.5)
    expect(alice.locator(".lead")).to_contain_text("active")
    shot(alice, "6-grant-active")
    alice.locator("#revoke-reason").fill("done with INC-42")
    alice.get_by_role("button", name="Revoke now").click()
    expect(alice.locator(".lead")).to_contain_text("revoked")
    alice.goto(f"{console_broker.url}/console/requests")
    expect(alice.locator("table").last).to_contain_text(request_id)
    shot(alice, "7-my-requests")

    alice.set_viewport_size({"width": 375, "height": 800})  # a phone
    alice.goto(f"{console_broker.url}/console/request")
    width = alice.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, f"the request page is {width}px wide at phone width"
    shot(alice, "8-request-phone")

    links = {n["event"]: n.get("console_url") for n in list(sink.received) if n["request"]["id"] == request_id}
    assert links["request.pending"] == f"{console_broker.url}/console/requests/{request_id}"


def test_the_session_cookie_is_http_only_same_site_and_ends_with_the_token(
    console_broker: BrokerProcess, tmp_path: Path
) -> None:
    with chromium_page(tmp_path / "carol") as carol:
        sign_in(carol, console_broker, "carol")
        cookies = {c["name"]: c for c in carol.context.cookies()}
    session = cookies["kubejit-console"]  # plain-HTTP loopback: not Secure, so no __Host- prefix (docs/console.md)
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False
    assert session["path"] == "/"
    left = session["expires"] - datetime.now(UTC).timestamp()
    assert 0 < left <= 3600 + 60  # the dev issuer's ID tokens live an hour
    assert "kubejit-console-sign-in" not in cookies  # the sign-in's secrets are dropped once it is done


def test_signing_out_drops_the_session_and_says_the_dev_issuer_has_no_sign_out(
    console_broker: BrokerProcess, chromium: Browser
) -> None:
    alice = person(chromium)
    sign_in(alice, console_broker, "alice")
    alice.get_by_role("button", name="Sign out").click()
    expect(alice.get_by_role("status")).to_have_text("You are signed out of the console.")
    expect(alice.locator("main")).to_contain_text("offers no sign-out to the console")
    shot(alice, "9-signed-out")
    assert "kubejit-console" not in {cookie["name"] for cookie in alice.context.cookies()}
    alice.goto(f"{console_broker.url}/console/requests")
    expect(alice.locator("button[value=alice]")).to_be_visible()  # the dev issuer's login page again


def test_a_signed_out_visitor_is_sent_to_the_sign_in(console_broker: BrokerProcess) -> None:
    page = httpx.get(f"{console_broker.url}/console/requests", timeout=30)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Frequests"
    forged = httpx.post(f"{console_broker.url}/console/request", data={"profile": "debug"}, timeout=30)
    assert forged.status_code == 403


# ---- CSRF ---------------------------------------------------------------------------------------------------------


def test_a_post_without_the_sessions_csrf_token_is_refused(
    devcluster: DevCluster, console_broker: BrokerProcess, namespace: str
) -> None:
    with web_sign_in(devcluster, console_broker, "alice") as alice:
        request_id = request_through_form(alice, namespace)
        cancel = f"/console/requests/{request_id}/cancel"
        assert alice.post(cancel, data={}).status_code == 403
        assert alice.post(cancel, data={"csrf": "not-the-token"}).status_code == 403
        with web_sign_in(devcluster, console_broker, "carol") as carol:  # a token of another session
            assert alice.post(cancel, data={"csrf": csrf_of(carol)}).status_code == 403
        token = csrf_of(alice)
        from_elsewhere = alice.post(cancel, data={"csrf": token}, headers={"Origin": "https://evil.example"})
        assert from_elsewhere.status_code == 403
        assert state_of(alice, request_id) == "pending"
        assert alice.post(cancel, data={"csrf": token}).status_code == 303  # the right token: done
        assert state_of(alice, request_id) == "cancelled"


# ---- authorization stays on the server -------------------------------------------------------------------------------


def test_bob_cannot_approve_his_own_request(
    devcluster: DevCluster, console_broker: BrokerProcess, namespace: str
) -> None:
    with web_sign_in(devcluster, console_broker, "bob") as bob:
        request_id = request_through_form(bob, namespace, reason="INC-10 bob's own")
        assert request_id not in bob.get("/console/inbox").text
        forged = {"csrf": csrf_of(bob), "kind": "request", "verdict": "approve", "comment": "me"}
        answer = bob.post(f"/console/requests/{request_id}/review", data=forged)
        assert answer.status_code == 403, answer.text
        assert state_of(bob, request_id) == "pending"


def test_carol_no_approver_neither_sees_nor_approves_alices_request(
    devcluster: DevCluster, console_broker: BrokerProcess, namespace: str
) -> None:
    with web_sign_in(devcluster, console_broker, "alice") as alice:
        request_id = request_through_form(alice, namespace, reason="INC-11 carol must not")
        with web_sign_in(devcluster, console_broker, "carol") as carol:
            inbox = carol.get("/console/inbox")
            assert request_id not in inbox.text
            assert "Nothing waits for your review" in inbox.text
            forged = {"csrf": csrf_of(carol), "kind": "request", "verdict": "approve", "comment": "sure"}
            answer = carol.post(f"/console/requests/{request_id}/review", data=forged)
            assert answer.status_code == 404, answer.text  # not even hers to see
            assert carol.get(f"/console/requests/{request_id}").status_code == 404
        assert state_of(alice, request_id) == "pending"


def test_the_request_form_works_from_the_keyboard_alone(
    console_broker: BrokerProcess, namespace: str, chromium: Browser
) -> None:
    """Tab reaches every field and the button in order, typing fills them, Enter sends: no mouse needed."""
    alice = person(chromium)
    sign_in(alice, console_broker, "alice", f"/console/request?profile=debug&namespace={namespace}")
    alice.locator("body").focus()

    def tab_to(wanted: str) -> list[str]:
        passed: list[str] = []
        for _ in range(40):
            alice.keyboard.press("Tab")
            focused = alice.evaluate("() => document.activeElement.id || document.activeElement.textContent.trim()")
            passed.append(str(focused))
            if focused == wanted:
                return passed
        raise AssertionError(f"Tab never reached {wanted!r}; it went through {passed}")

    order = tab_to("profile") + tab_to("duration")
    assert "namespaces" in order  # the fields come in the order they are read
    alice.keyboard.type("15m")
    tab_to("reason")
    alice.keyboard.type("INC-77 keyboard only")
    tab_to("Send the request")
    alice.keyboard.press("Enter")
    alice.wait_for_url(re.compile(r".*/console/requests/req-[0-9a-f]+$"))
    expect(alice.locator(".lead")).to_contain_text("pending")
