"""How long an anomaly alert takes to reach a webhook after the request that triggers it, next to the gateway's
plain request latency, in one run.

It starts the dev control plane, a real broker and a real ``kubejit gateway`` (as bench/gateway.py does, with a
policy whose ``spec.alerts`` has a ``forbidden-burst`` rule of threshold 1 on the ``view`` profile), then restarts
the broker with a local webhook receiver that takes ``alert.raised`` only. Each sample sends alice's grant token
to the gateway with a GET of a Secret that ``view`` does not cover (a 403 from the gateway, recorded and sent to
the broker with the next activity batch), each with a name of its own, and waits for the alert that names it:

    alert       the GET sent -> the alert.raised notification received (request -> gateway -> activity batch ->
                broker -> audit -> webhook lane -> receiver)
    request     a plain GET of a ConfigMap through the gateway (the gateway's request latency, for scale)

Samples are spaced at random (0.1-0.6 s), so requests land at every phase of the gateway's activity flush.
Target (the anomalies issue): an alert within 1 s of the triggering request.

    .venv/bin/python bench/alert_latency.py [--samples N]
"""

from __future__ import annotations

import argparse
import json
import random
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from _report import progress
from gateway import NAMESPACE, OBJECT, POLICY, Setup, grant_token, start  # bench/gateway.py
from gateway_cutoff import report  # bench/gateway_cutoff.py: p50, p99, max of samples in seconds

from kubejit.devcluster.broker import start_broker
from kubejit.devcluster.cluster import DevCluster

ALERT_POLICY = POLICY + "  alerts:\n    - {name: bench-403, kind: forbidden-burst, threshold: 1, profiles: [view]}\n"


class Receiver:
    """A webhook receiver on loopback: when each alert arrived (monotonic), by the Secret its evidence names."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.monotonic()
                self.send_response(204)
                self.end_headers()
                with receiver.changed:
                    for item in body.get("alert", {}).get("evidence", []):
                        receiver.arrived.setdefault(str(item.get("name", "")), now)
                    receiver.changed.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, name: str, timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        with self.changed:
            while name not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"no alert named {name} within {timeout} s")
                self.changed.wait(left)
            return self.arrived[name]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def with_webhook(setup: Setup, receiver: Receiver) -> None:
    """Restart the broker (same port, same database) with the receiver as its only webhook."""
    config = setup.broker.config
    document = yaml.safe_load(config.read_text())
    document["notifications"] = {"webhooks": [{"url": receiver.url, "format": "generic", "events": ["alert.raised"]}]}
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    setup.broker.stop()
    setup.broker = start_broker(config, log_name="bench-alert-broker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    alerts: list[float] = []
    plain: list[float] = []
    progress("starting the control plane, the broker and the gateway")
    with DevCluster(with_kwok=False) as cluster, tempfile.TemporaryDirectory(prefix="kubejit-bench-alert-") as scratch:
        setup = start(cluster, Path(scratch), policy=ALERT_POLICY)
        receiver = Receiver()
        try:
            with_webhook(setup, receiver)
            tls = ssl.create_default_context(cafile=str(setup.shared.ca_file))
            headers = {"Authorization": f"Bearer {grant_token(cluster, setup)}"}
            with httpx.Client(base_url=setup.gateway.url, verify=tls, headers=headers, timeout=30) as client:
                deadline = time.monotonic() + 30
                while client.get(OBJECT).status_code != 200:  # the gateway's grant stream found the new broker
                    if time.monotonic() > deadline:
                        raise SystemExit("the gateway did not serve the grant after the broker's restart")
                    time.sleep(0.1)
                for number in range(args.samples):
                    time.sleep(random.uniform(0.1, 0.6))  # noqa: S311 - spacing, not secrecy
                    started = time.monotonic()
                    assert client.get(OBJECT).status_code == 200
                    plain.append(time.monotonic() - started)
                    name = f"probe-{number}"
                    started = time.monotonic()
                    refused = client.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
                    if refused.status_code != 403:
                        raise SystemExit(f"the probe answered {refused.status_code}, not 403")
                    alerts.append(receiver.wait_for(name) - started)
                    progress(f"sample {number + 1}: {alerts[-1] * 1000:.0f} ms")
        finally:
            receiver.close()
            setup.gateway.stop()
            setup.broker.stop()
    print("Anomaly alert latency (a 403 through the gateway -> alert.raised at a webhook; target: within 1 s):")
    report("alert", alerts)
    report("request", plain)


if __name__ == "__main__":
    main()
