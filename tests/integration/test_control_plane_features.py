"""What later kubejit parts rely on from the control plane: ServiceAccount tokens (TokenRequest),
admission webhooks served on 127.0.0.1, and the audit trail (log file and webhook backend)."""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubejit.devcluster.cluster import AuditWebhook, DevCluster
from kubejit.devcluster.pki import CertificateAuthority
from tests.conftest import Kubectl


@dataclass
class HttpsSink:
    """A small HTTPS server on 127.0.0.1 that records JSON bodies and answers with ``respond``."""

    ca: CertificateAuthority
    workdir: Path
    respond: Any = None
    received: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        cert, key = self.ca.issue_server("sink").write(self.workdir, "sink")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sink.received.append(body)
                answer = json.dumps(sink.respond(body) if sink.respond else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[HttpsSink]:
    server = HttpsSink(CertificateAuthority("test-sink-ca"), tmp_path)
    yield server
    server.close()


def test_token_request_issues_service_account_tokens(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "serviceaccount", "robot", "-n", namespace)
    token = kubectl("create", "token", "robot", "-n", namespace, "--duration=10m").stdout.strip()
    info = json.loads(kubectl("auth", "whoami", "-o", "json", "--token", token, user="alice").stdout)
    assert info["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:robot"


def test_a_validating_webhook_on_loopback_is_called_and_can_deny(
    kubectl: Kubectl, namespace: str, sink: HttpsSink
) -> None:
    def review(body: dict[str, Any]) -> dict[str, Any]:
        request = body["request"]
        allowed = request["name"] != "forbidden"
        return {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {
                "uid": request["uid"],
                "allowed": allowed,
                "status": {"message": "names like that are refused by the test webhook"},
            },
        }

    sink.respond = review
    name = f"test-{uuid.uuid4().hex[:8]}"
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "configmaps.test.kubejit.io",
                "clientConfig": {"url": f"{sink.url}/validate", "caBundle": _b64(sink.ca.cert_pem)},
                "rules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
            }
        ],
    }
    kubectl("apply", "-f", "-", input_text=json.dumps(config))
    try:
        kubectl("create", "configmap", "fine", "-n", namespace)
        denied = kubectl("create", "configmap", "forbidden", "-n", namespace, check=False)
    finally:
        kubectl("delete", "validatingwebhookconfiguration", name)
    assert denied.returncode != 0
    assert "names like that are refused by the test webhook" in denied.stderr
    assert [r["request"]["name"] for r in sink.received] == ["fine", "forbidden"]


def test_the_audit_log_records_who_tried_what_and_the_decision(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("get", "secrets", "-n", namespace, user="alice", check=False)
    events = [json.loads(line) for line in (devcluster.state_dir / "audit.log").read_text().splitlines()]
    mine = [
        e for e in events if e["user"]["username"] == "alice" and e.get("objectRef", {}).get("namespace") == namespace
    ]
    assert [(e["verb"], e["objectRef"]["resource"]) for e in mine] == [("list", "secrets")]
    assert mine[0]["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert mine[0]["responseStatus"]["code"] == 403


def test_the_audit_webhook_backend_receives_events(tmp_path: Path, sink: HttpsSink) -> None:
    webhook = AuditWebhook(url=sink.url, ca_pem=sink.ca.cert_pem)
    with DevCluster(tmp_path / "out", with_kwok=False, audit_webhook=webhook) as cluster:
        cluster.kubectl("create", "namespace", "audited", check=True)
        deadline = threading.Event()
        for _ in range(100):  # batches are flushed at least every second
            if _created_namespaces(sink) & {"audited"}:
                break
            deadline.wait(0.1)
    assert "audited" in _created_namespaces(sink)


def _created_namespaces(sink: HttpsSink) -> set[str]:
    return {
        event["objectRef"].get("name", "")
        for batch in list(sink.received)
        for event in batch.get("items", [])
        if event.get("verb") == "create" and event.get("objectRef", {}).get("resource") == "namespaces"
    }


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
