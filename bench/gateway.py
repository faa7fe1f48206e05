"""What the gateway adds to a Kubernetes API request, next to kube-apiserver reached directly, in one run.

It starts the dev control plane (etcd + kube-apiserver), a real broker and a real ``kubejit gateway`` (separate
processes, as deployed), gives alice a grant of the ``view`` profile on one namespace through the broker (request,
bob approves), and also binds ``view`` to alice directly in the same namespace, so both paths end in the same RBAC
decision. Then it GETs one ConfigMap with httpx (HTTP/1.1, TLS, keep-alive connections), alternating between:

    direct        kube-apiserver, as alice with her OIDC ID token          (the baseline)
    impersonated  kube-apiserver, with the gateway's client certificate and Impersonate-User: alice (what the
                  gateway sends; for information: kube-apiserver's own price of impersonation)
    gateway       the gateway with alice's grant token; it checks the token, the grant and the guardrails,
                  records the request, and forwards it impersonating alice with its own client certificate

    1 client    latency p50 / p99, and what the gateway adds.                  target: p50 added <= 1 ms
    32 clients  throughput (one keep-alive connection each), and gateway/direct. target: ratio >= 0.7

Every process shares this machine's CPUs (kube-apiserver, etcd, broker, gateway and the load generator), so
throughput is a CPU-cost comparison more than a capacity figure; the CPU time each process spent per request
in the 32-client runs is printed too (Linux /proc). The gateway records every request and sends the records to
the broker, which appends them to its audit chain: part of what is measured, and of that CPU table.

    .venv/bin/python bench/gateway.py [--requests N] [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import ssl
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from _report import percentile, progress

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.gateway import (
    GatewayProcess,
    GatewaySecrets,
    broker_link,
    gateway_config,
    prepare_gateway,
    start_gateway,
)

NAMESPACE = "bench-gw"
OBJECT = f"/api/v1/namespaces/{NAMESPACE}/configmaps/settings"
POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: bench-gateway}
spec:
  defaults: {defaultDuration: 1h, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: view
      clusterRole: view
      namespaces: ["bench-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
"""


@dataclass
class Target:
    name: str
    url: str
    tls: ssl.SSLContext  # trust, and for `impersonated` the gateway's client certificate
    headers: dict[str, str]


@dataclass
class Setup:
    broker: BrokerProcess
    gateway: GatewayProcess
    shared: GatewaySecrets
    grant: str


def start(cluster: DevCluster, directory: Path, policy: str = POLICY) -> Setup:
    """Broker and gateway processes for the bench policy (or ``policy``, whose ``view`` profile alice is
    granted), alice's grant, and her direct RoleBinding."""
    cluster.kubectl("create", "namespace", NAMESPACE, check=True)
    data = [f"--from-literal=key{i}=value-{i:04d}-{'x' * 40}" for i in range(16)]  # ~1.5 KB, a typical ConfigMap
    cluster.kubectl("create", "configmap", "settings", "-n", NAMESPACE, *data, check=True)
    cluster.kubectl("create", "rolebinding", "alice-direct", "--clusterrole=view", "--user=alice", "-n", NAMESPACE)
    policy_file = directory / "policy.yaml"
    policy_file.write_text(policy)
    kubeconfig = install_broker_access(
        cluster,
        load_policy_file(policy_file),
        directory / "broker.kubeconfig",
        namespace="kubejit-bench-gw",
        role_name="kubejit:broker:bench-gw",
    )
    shared = prepare_gateway(cluster, directory / "gateway")
    config = broker_config(
        cluster, directory, policy_file=policy_file, broker_kubeconfig=kubeconfig, namespace="kubejit-bench-gw"
    )
    document = yaml.safe_load(config.read_text())
    document["gateway"] = broker_link(shared)
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    broker = start_broker(config, log_name="bench-broker")
    gateway = start_gateway(
        gateway_config(directory / "gateway", shared, broker_url=broker.url, policy_file=policy_file),
        shared,
        log_name="bench-gateway",
    )
    with (
        httpx.Client(base_url=broker.url, headers=auth(cluster, "alice"), timeout=30) as alice,
        httpx.Client(base_url=broker.url, headers=auth(cluster, "bob"), timeout=30) as bob,
    ):
        created = alice.post("/api/v1/requests", json={"profile": "view", "namespaces": [NAMESPACE], "duration": "1h"})
        created.raise_for_status()
        grant = str(created.json()["id"])
        bob.post(f"/api/v1/requests/{grant}/approve", json={}).raise_for_status()
        deadline = time.monotonic() + 30
        while alice.get(f"/api/v1/requests/{grant}").json()["state"] != "active":
            if time.monotonic() > deadline:
                raise SystemExit(f"{grant} did not become active")
            time.sleep(0.05)
    return Setup(broker, gateway, shared, grant)


def auth(cluster: DevCluster, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {cluster.mint_token(user)}"}


def grant_token(cluster: DevCluster, setup: Setup) -> str:
    """A fresh grant token (they live 5 minutes): taken before each measurement."""
    with httpx.Client(base_url=setup.broker.url, headers=auth(cluster, "alice"), timeout=30) as alice:
        response = alice.post(f"/api/v1/requests/{setup.grant}/token")
        response.raise_for_status()
        return str(response.json()["token"])


def interleaved(targets: list[Target], requests: int) -> dict[str, list[float]]:
    """Latencies of ``requests`` GETs per target, one at a time, each target on its own keep-alive connection.

    The targets take turns request by request (in a rotating order), so that whatever else the machine does
    meanwhile (the broker appending the gateway's activity, a garbage collection) falls on all of them alike."""
    samples: dict[str, list[float]] = {target.name: [] for target in targets}
    clients = [httpx.Client(base_url=t.url, verify=t.tls, headers=t.headers, timeout=30) for t in targets]
    try:
        for client in clients:
            for _ in range(max(50, requests // 10)):  # warm up: connection, caches
                client.get(OBJECT).raise_for_status()
        for number in range(requests):
            turn = number % len(targets)
            for target, client in [*zip(targets, clients, strict=True)][turn:] + [*zip(targets, clients, strict=True)][
                :turn
            ]:
                started = time.perf_counter()
                response = client.get(OBJECT)
                samples[target.name].append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"{target.name}: {response.status_code} {response.text[:300]}")
    finally:
        for client in clients:
            client.close()
    return samples


async def concurrent(target: Target, clients: int, seconds: float) -> tuple[float, list[float]]:
    """Requests per second and latencies with ``clients`` concurrent clients, each on its own connection."""
    samples: list[float] = []
    refused: list[str] = []

    async def client_loop(client: httpx.AsyncClient, until: float) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            response = await client.get(OBJECT)
            samples.append(time.perf_counter() - started)
            if response.status_code != 200:
                refused.append(f"{response.status_code} {response.text[:200]}")
                return

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [
        httpx.AsyncClient(base_url=target.url, verify=target.tls, headers=target.headers, limits=limits, timeout=30)
        for _ in range(clients)
    ]
    try:
        await asyncio.gather(*(client_loop(c, time.perf_counter() + 1.0) for c in pool))  # warm up
        samples.clear()
        began = time.perf_counter()
        await asyncio.gather(*(client_loop(c, began + seconds) for c in pool))
        elapsed = time.perf_counter() - began
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    if refused:
        raise SystemExit(f"{target.name}: {len(refused)} requests failed, e.g. {refused[0]}")
    return len(samples) / elapsed, samples


def impersonating(cluster: DevCluster, directory: Path) -> Target:
    """kube-apiserver reached as the gateway reaches it: its client certificate, impersonating alice."""
    user = yaml.safe_load((directory / "gateway" / "gateway.kubeconfig").read_text())["users"][0]["user"]
    cert, key = directory / "bench-client.crt", directory / "bench-client.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.touch(mode=0o600)
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    tls = ssl.create_default_context(cadata=cluster.ca.cert_pem.decode())
    tls.load_cert_chain(cert, key)
    headers = {"Impersonate-User": "alice", "Impersonate-Group": "payments-devs", "Accept": "application/json"}
    return Target("impersonated", cluster.server_url, tls, headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


class CpuMeter:
    """CPU seconds used by the processes this run started (user + system, from /proc/PID/stat)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.ticks = os.sysconf("SC_CLK_TCK")

    def sample(self) -> dict[str, float]:
        used = {}
        for name, pid in self.pids.items():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[name] = (int(fields[11]) + int(fields[12])) / self.ticks
        return used


def children() -> dict[str, int]:
    """kube-apiserver and etcd: child processes of this one, by command name."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        command, parent = name.partition("(")[2], int(rest.split()[1])
        if parent == os.getpid() and command in ("kube-apiserver", "etcd"):
            found[command] = int(stat.parent.name)
    return found


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="sequential GETs per path and round")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each 32-client run")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the three paths")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()

    names = ("direct", "impersonated", "gateway")
    latency: dict[str, list[float]] = {name: [] for name in names}
    loaded: dict[str, list[float]] = {name: [] for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, dict[str, float]] = {name: {} for name in names}
    progress("starting the control plane, the broker and the gateway")
    with DevCluster(with_kwok=False) as cluster, tempfile.TemporaryDirectory(prefix="kubejit-bench-gw-") as scratch:
        setup = start(cluster, Path(scratch))
        try:
            meter = CpuMeter(
                {**children(), "broker": setup.broker.process.pid or 0, "gateway": setup.gateway.process.pid or 0}
                | {"load generator": os.getpid()}
            )
            direct = Target(
                "direct",
                cluster.server_url,
                ssl.create_default_context(cadata=cluster.ca.cert_pem.decode()),
                bearer(cluster.mint_token("alice", ttl_seconds=3600)),
            )
            impersonated = impersonating(cluster, Path(scratch))
            gateway_tls = ssl.create_default_context(cafile=str(setup.shared.ca_file))
            for round_number in range(args.rounds):
                gateway = Target("gateway", setup.gateway.url, gateway_tls, bearer(grant_token(cluster, setup)))
                progress(f"round {round_number + 1}: 1 client per path, {args.requests} GETs each, interleaved")
                for name, samples in interleaved([direct, impersonated, gateway], args.requests).items():
                    latency[name] += samples
                for target in (direct, impersonated, gateway):
                    progress(f"round {round_number + 1}: {target.name}, {args.clients} clients, {args.seconds:.0f} s")
                    before = meter.sample()
                    rate, samples = asyncio.run(concurrent(target, args.clients, args.seconds))
                    after = meter.sample()
                    rates[target.name].append(rate)
                    loaded[target.name] += samples
                    for process in after:
                        spent = (after[process] - before[process]) / (rate * args.seconds)
                        cpu[target.name][process] = cpu[target.name].get(process, 0.0) + spent / args.rounds
        finally:
            setup.gateway.stop()
            setup.broker.stop()

    print(f"GET one ConfigMap ({OBJECT}); httpx, HTTP/1.1 over TLS, keep-alive; {args.rounds} alternating rounds")
    print(f"1 client, {args.requests * args.rounds} GETs per path:")
    for name in names:
        samples = latency[name]
        print(f"  {name:12} p50 {ms(statistics.median(samples))}   p99 {ms(percentile(samples, 99))}")
    d50, g50 = statistics.median(latency["direct"]), statistics.median(latency["gateway"])
    d99, g99 = percentile(latency["direct"], 99), percentile(latency["gateway"], 99)
    print(f"  gateway adds p50 {ms(g50 - d50)}   p99 {ms(g99 - d99)}   over direct (target: p50 <= 1 ms)")
    i50 = statistics.median(latency["impersonated"])
    print(f"  of which kube-apiserver's impersonation: p50 {ms(i50 - d50)}")
    print(f"{args.clients} clients, {args.seconds:.0f} s per run:")
    for name in names:
        samples = loaded[name]
        print(
            f"  {name:12} {statistics.mean(rates[name]):6.0f} req/s   p50 {ms(statistics.median(samples))}"
            f"   p99 {ms(percentile(samples, 99))}   (runs: {', '.join(f'{r:.0f}' for r in rates[name])})"
        )
    d50, g50 = statistics.median(loaded["direct"]), statistics.median(loaded["gateway"])
    d99, g99 = percentile(loaded["direct"], 99), percentile(loaded["gateway"], 99)
    print(f"  gateway adds p50 {ms(g50 - d50)}   p99 {ms(g99 - d99)}   over direct (both saturate the CPUs)")
    ratio = statistics.mean(rates["gateway"]) / statistics.mean(rates["direct"])
    print(f"  gateway/direct throughput {ratio:.2f}   (target: >= 0.7)")
    print(f"CPU time per request in the {args.clients}-client runs, by process (all share {os.cpu_count()} CPUs):")
    processes = list(cpu["direct"])
    print("  " + " " * 12 + "".join(f"{p:>16}" for p in [*processes, "total"]))
    for name in names:
        cells = [cpu[name][p] for p in processes]
        print(f"  {name:12}" + "".join(f"{ms(c):>16}" for c in [*cells, sum(cells)]))


if __name__ == "__main__":
    main()
