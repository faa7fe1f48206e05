"""Whether one person's pathological exec command slows everyone else down: GET latency through the gateway while
another client sends the worst-case exec command line (refused by the guardrail), next to the same GETs alone.

The exec check is bounded by its caps (16 KiB of arguments, 2,048 words) and a step budget, and a request whose
command line is long is decided on a worker thread, so the event loop keeps serving the other connections. The
worst case is the slowest of bench/guardrail_decision.py's pathological command lines, sent as a WebSocket exec
upgrade (the gateway refuses it before anything reaches kube-apiserver).

    .venv/bin/python bench/gateway_exec_stall.py [--seconds S]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from _report import percentile, progress
from gateway import NAMESPACE, OBJECT, Setup, grant_token, start
from guardrail_decision import pathological_commands, worst_case

from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.exec_commands import MAX_ARGV_BYTES, parse_pattern
from kubejit.transport import trust_context

POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: bench-exec-stall}
spec:
  defaults: {defaultDuration: 1h, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: view
      rules:
        - {apiGroups: [""], resources: [configmaps], verbs: [get]}
        - {apiGroups: [""], resources: [pods/exec], verbs: [create, get]}
      namespaces: ["bench-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      allowRisks: [{id: pods-exec, justification: the exec guardrail is what is measured}]
      guardrails: [safe-exec]
  guardrails:
    - name: safe-exec
      exec: {denyCommands: ["rm -rf", "mkfs", "dd", "shutdown", "reboot"], failClosed: true}
"""
PATTERNS = ["rm -rf", "mkfs", "dd", "shutdown", "reboot"]


def gets(client: httpx.Client, seconds: float) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        client.get(OBJECT).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def flood(client: httpx.Client, path: str, stop: threading.Event, answers: list[tuple[int, float]]) -> None:
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
    }
    while not stop.is_set():
        started = time.perf_counter()
        status = client.get(path, headers=headers).status_code
        answers.append((status, (time.perf_counter() - started) * 1000))


def line(name: str, samples: list[float]) -> str:
    return (
        f"  {name:<28} p50 {percentile(samples, 50):6.2f} ms   p99 {percentile(samples, 99):7.2f} ms   "
        f"max {max(samples):7.2f} ms   (n={len(samples)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    name, check_ms = worst_case([parse_pattern(p) for p in PATTERNS])
    argv = pathological_commands(MAX_ARGV_BYTES)[name]
    query = "&".join(f"command={quote(a, safe='')}" for a in argv) + "&container=main&stdin=true&stdout=true"
    exec_path = f"/api/v1/namespaces/{NAMESPACE}/pods/app/exec?{query}"
    with tempfile.TemporaryDirectory() as tmp, DevCluster(with_kwok=False) as cluster:
        progress("starting the control plane, the broker and the gateway")
        setup: Setup = start(cluster, Path(tmp), POLICY)
        token = grant_token(cluster, setup)
        trust = trust_context(cafile=setup.shared.ca_file)
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=setup.shared.url, verify=trust, headers=headers, timeout=30) as reader,
            httpx.Client(base_url=setup.shared.url, verify=trust, headers=headers, timeout=30) as attacker,
        ):
            gets(reader, 1.0)  # warm up
            progress(f"GETs alone, {args.seconds:.0f} s")
            alone = gets(reader, args.seconds)
            progress(f"GETs while another client sends the worst-case exec command ({name!r}), {args.seconds:.0f} s")
            stop, answers = threading.Event(), []
            sender = threading.Thread(target=flood, args=(attacker, exec_path, stop, answers), daemon=True)
            sender.start()
            time.sleep(0.5)
            during = gets(reader, args.seconds)
            stop.set()
            sender.join(timeout=30)
    statuses = sorted({status for status, _ in answers})
    print(f"GET {OBJECT} through the gateway, 1 client, {args.seconds:.0f} s each:")
    print(line("alone (baseline)", alone))
    print(line("beside worst-case exec", during))
    print(
        f"  added p99 {percentile(during, 99) - percentile(alone, 99):+.2f} ms, max {max(during) - max(alone):+.2f} ms"
    )
    print(
        f"worst-case exec command {name!r} ({len(exec_path) // 1024} KiB request line): {len(answers)} sent, "
        f"answered {statuses}, p50 {percentile([ms for _, ms in answers], 50):.1f} ms each through the gateway; "
        f"its check alone takes {check_ms:.1f} ms in this process"
    )


if __name__ == "__main__":
    main()
