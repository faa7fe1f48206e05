"""How fast the gateway ends access at a revoke and at a grant's end, next to what RBAC alone does, in one run.

It starts the dev control plane, a real broker and a real ``kubejit gateway`` (as bench/gateway.py does) and,
in a namespace where alice has no other access, takes samples of:

    revoke -> refused   alice's grant token is refused by the gateway (a GET every 10 ms), after the revoke
                        API call returned
    revoke -> closed    an open watch through the gateway is closed by it
    end -> closed       an open watch through the gateway is closed, after the grant's end time (a 3 s grant)
    baseline            the same watch made directly to kube-apiserver under the grant's RoleBinding: the broker
                        deletes the binding at the revoke, but kube-apiserver authorizes a watch only when it
                        starts, so the stream stays open (we stop looking after --baseline-wait seconds)

Target (the gateway issue): refused within 1 s and open streams closed within 1 s.

    .venv/bin/python bench/gateway_cutoff.py [--samples N]
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
from _report import percentile, progress
from gateway import NAMESPACE, Setup, auth, start  # bench/gateway.py

from kubejit.devcluster.cluster import DevCluster

CUT_NAMESPACE = f"{NAMESPACE}-cut"
WATCH = f"/api/v1/namespaces/{CUT_NAMESPACE}/configmaps?watch=1"


def new_grant(cluster: DevCluster, setup: Setup, duration: str) -> tuple[str, str, datetime]:
    """alice's approved, active grant of ``view`` on the cut-off namespace: (id, grant token, end)."""
    with (
        httpx.Client(base_url=setup.broker.url, headers=auth(cluster, "alice"), timeout=30) as alice,
        httpx.Client(base_url=setup.broker.url, headers=auth(cluster, "bob"), timeout=30) as bob,
    ):
        created = alice.post(
            "/api/v1/requests", json={"profile": "view", "namespaces": [CUT_NAMESPACE], "duration": duration}
        )
        created.raise_for_status()
        grant = str(created.json()["id"])
        bob.post(f"/api/v1/requests/{grant}/approve", json={}).raise_for_status()
        deadline = time.monotonic() + 30
        while (state := alice.get(f"/api/v1/requests/{grant}").json())["state"] != "active":
            if time.monotonic() > deadline:
                raise SystemExit(f"{grant} did not become active")
            time.sleep(0.02)
        token = alice.post(f"/api/v1/requests/{grant}/token").raise_for_status().json()["token"]
        return grant, str(token), datetime.fromisoformat(str(state["endsAt"]))


class Watch:
    """A watch held open in a thread; ``closed_at`` is when the server ended it (monotonic and wall clock)."""

    def __init__(self, url: str, tls: ssl.SSLContext, token: str) -> None:
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.closed_at = 0.0
        self.closed_wall = 0.0
        self.status = 0
        self._thread = threading.Thread(target=self._run, args=(url, tls, token), daemon=True)
        self._thread.start()
        if not self.opened.wait(10):
            raise SystemExit(f"the watch at {url} did not open")
        if self.status != 200:
            raise SystemExit(f"the watch at {url} answered {self.status}")

    def _run(self, url: str, tls: ssl.SSLContext, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        timeout = httpx.Timeout(30, read=None)
        try:
            with (
                httpx.Client(base_url=url, verify=tls, headers=headers, timeout=timeout) as client,
                client.stream("GET", WATCH) as response,
            ):
                self.status = response.status_code
                self.opened.set()
                for _ in response.iter_raw():
                    pass
        except httpx.HTTPError:
            pass
        finally:
            self.closed_at, self.closed_wall = time.monotonic(), time.time()
            self.opened.set()
            self.closed.set()


def revoke(cluster: DevCluster, setup: Setup, grant: str) -> float:
    """Revoke as alice; the moment the API call returned (monotonic)."""
    with httpx.Client(base_url=setup.broker.url, headers=auth(cluster, "alice"), timeout=30) as alice:
        alice.post(f"/api/v1/requests/{grant}/revoke", json={"reason": "bench"}).raise_for_status()
    return time.monotonic()


def refused_after(setup: Setup, tls: ssl.SSLContext, token: str, since: float) -> float:
    with httpx.Client(
        base_url=setup.gateway.url,
        verify=tls,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ) as client:
        while client.get(f"/api/v1/namespaces/{CUT_NAMESPACE}/configmaps").status_code == 200:
            if time.monotonic() - since > 10:
                raise SystemExit("the revoked grant's token was still accepted 10 s after the revoke")
            time.sleep(0.01)
    return time.monotonic() - since


def report(label: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"  {label:18} p50 {statistics.median(ms):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms"
        f"   max {max(ms):7.1f} ms   (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--baseline-wait", type=float, default=10.0, help="how long to watch the direct stream")
    args = parser.parse_args()
    refused: list[float] = []
    closed: list[float] = []
    ended: list[float] = []
    progress("starting the control plane, the broker and the gateway")
    with DevCluster(with_kwok=False) as cluster, tempfile.TemporaryDirectory(prefix="kubejit-bench-cut-") as scratch:
        setup = start(cluster, Path(scratch))
        try:
            cluster.kubectl("create", "namespace", CUT_NAMESPACE, check=True)
            gateway_tls = ssl.create_default_context(cafile=str(setup.shared.ca_file))
            direct_tls = ssl.create_default_context(cadata=cluster.ca.cert_pem.decode())
            for number in range(args.samples):
                progress(f"sample {number + 1}: revoke")
                grant, token, _ = new_grant(cluster, setup, "1h")
                watch = Watch(setup.gateway.url, gateway_tls, token)
                revoked_at = revoke(cluster, setup, grant)
                refused.append(refused_after(setup, gateway_tls, token, revoked_at))
                if not watch.closed.wait(10):
                    raise SystemExit("the gateway did not close the watch within 10 s of the revoke")
                closed.append(watch.closed_at - revoked_at)
                progress(f"sample {number + 1}: end of a 3 s grant")
                grant, token, ends_at = new_grant(cluster, setup, "3s")
                watch = Watch(setup.gateway.url, gateway_tls, token)
                if not watch.closed.wait(15):
                    raise SystemExit("the gateway did not close the watch within 10 s of the grant's end")
                ended.append(watch.closed_wall - ends_at.timestamp())
            progress(f"baseline: a direct watch under the grant's RoleBinding, revoked, watched {args.baseline_wait} s")
            grant, _, _ = new_grant(cluster, setup, "1h")
            direct = Watch(cluster.server_url, direct_tls, cluster.mint_token("alice", ttl_seconds=3600))
            revoked_at = revoke(cluster, setup, grant)
            direct_closed = direct.closed.wait(args.baseline_wait)
        finally:
            setup.gateway.stop()
            setup.broker.stop()

    print("Ending access through the gateway (a watch of ConfigMaps; target: within 1 s):")
    report("revoke -> refused", refused)
    report("revoke -> closed", closed)
    report("end -> closed", ended)
    if direct_closed:
        print(f"  baseline: the direct watch was closed {direct.closed_at - revoked_at:.2f} s after the revoke")
    else:
        print(
            "  baseline: the direct watch under the revoked grant's RoleBinding was still open"
            f" {args.baseline_wait:.0f} s after the revoke (kube-apiserver authorizes a watch when it starts)"
        )


if __name__ == "__main__":
    main()
