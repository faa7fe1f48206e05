"""How long an anomaly alert takes to reach the web console's live page after the request that triggers it,
next to the gateway's plain request latency, in one run.

It starts the dev control plane, a real broker and a real ``kubejit gateway`` with the policy of
bench/alert_latency.py (a ``forbidden-burst`` rule of threshold 1 on the ``view`` profile), signs alice in to the
console (the dev issuer's login, as a browser would) and holds the live page's event stream open
(``/console/live/stream``, what its EventSource reads). Each sample sends alice's grant token to the gateway with
a GET of a Secret that ``view`` does not cover and waits for the next ``alert.raised`` event on the stream:

    alert       the GET sent -> the alert on the console's stream (request -> gateway -> activity batch ->
                broker record -> anomaly watch -> audit append -> audit signal -> SSE)
    request     a plain GET of a ConfigMap through the gateway (the gateway's request latency, for scale)

Samples are spaced at random (0.1-0.6 s), so requests land at every phase of the gateway's activity flush.
Target (the console issue): an alert on the console within 1 s of the triggering request.

    .venv/bin/python bench/console_alert_latency.py [--samples N]
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import re
import ssl
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _report import progress
from alert_latency import ALERT_POLICY  # bench/alert_latency.py
from gateway import NAMESPACE, OBJECT, grant_token, start  # bench/gateway.py
from gateway_cutoff import report  # bench/gateway_cutoff.py: p50, p99, max of samples in seconds

from kubejit.devcluster.cluster import DevCluster


def console_session(cluster: DevCluster, broker_url: str, user: str) -> httpx.Client:
    """A client holding ``user``'s console session: the sign-in redirect, the dev issuer's login form, back."""
    client = httpx.Client(base_url=broker_url, timeout=30)
    to_issuer = client.get("/console/login")
    login_page = httpx.get(to_issuer.headers["location"], timeout=30)
    found = re.search(r'name=transaction value="([^"]+)"', login_page.text)
    if found is None:
        raise SystemExit(f"the dev issuer's login page has no transaction: {login_page.text[:200]}")
    chosen = httpx.post(
        f"{cluster.issuer.pages_url}/authorize", data={"transaction": found.group(1), "user": user}, timeout=30
    )
    back = client.get(chosen.headers["location"])
    if back.status_code != 303:
        raise SystemExit(f"the console's sign-in answered {back.status_code}: {back.text[:200]}")
    return client


def read_alerts(client: httpx.Client, arrived: queue.Queue[float], stop: threading.Event) -> None:
    """Put the monotonic arrival time of every alert.raised message on ``arrived``; reconnect as a browser
    would (from the last event id) when the stream ends."""
    last = "0"
    while not stop.is_set():
        try:
            with client.stream("GET", "/console/live/stream", headers={"Last-Event-ID": last}, timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("id: "):
                        last = line[4:]
                    elif line.startswith("data: ") and json.loads(line[6:])["kind"] == "alert.raised":
                        arrived.put(time.monotonic())
                    if stop.is_set():
                        return
        except (httpx.HTTPError, RuntimeError):  # the broker stopped, or the client was closed at the end
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    alerts: list[float] = []
    plain: list[float] = []
    progress("starting the control plane, the broker and the gateway")
    with (
        DevCluster(with_kwok=False) as cluster,
        tempfile.TemporaryDirectory(prefix="kubejit-bench-console-") as scratch,
    ):
        setup = start(cluster, Path(scratch), policy=ALERT_POLICY)
        arrived: queue.Queue[float] = queue.Queue()
        stop = threading.Event()
        console = console_session(cluster, setup.broker.url, "alice")
        reader = threading.Thread(target=read_alerts, args=(console, arrived, stop), daemon=True)
        try:
            reader.start()
            tls = ssl.create_default_context(cafile=str(setup.shared.ca_file))
            headers = {"Authorization": f"Bearer {grant_token(cluster, setup)}"}
            with httpx.Client(base_url=setup.gateway.url, verify=tls, headers=headers, timeout=30) as client:
                for number in range(args.samples):
                    time.sleep(random.uniform(0.1, 0.6))  # noqa: S311 - spacing, not secrecy
                    started = time.monotonic()
                    if client.get(OBJECT).status_code != 200:
                        raise SystemExit("the gateway did not serve alice's grant")
                    plain.append(time.monotonic() - started)
                    started = time.monotonic()
                    refused = client.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/probe-{number}")
                    if refused.status_code != 403:
                        raise SystemExit(f"the probe answered {refused.status_code}, not 403")
                    try:
                        alerts.append(arrived.get(timeout=10) - started)
                    except queue.Empty:
                        raise SystemExit(
                            f"no alert on the console's stream within 10 s (sample {number + 1})"
                        ) from None
                    progress(f"sample {number + 1}: {alerts[-1] * 1000:.0f} ms")
        finally:
            stop.set()
            console.close()
            setup.gateway.stop()
            setup.broker.stop()
    print("Console alert latency (a 403 through the gateway -> alert.raised on /console/live's stream; target: 1 s):")
    report("alert", alerts)
    report("request", plain)


if __name__ == "__main__":
    main()
