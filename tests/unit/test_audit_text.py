"""How ``kubejit audit`` words the gateway's records for a person."""

from __future__ import annotations

from kubejit.domain.audit import AuditKind
from kubejit.entrypoints.cli.audit_text import MAX_OUTPUT_LINES, describe

REQUEST = {
    "method": "GET",
    "path": "/api/v1/namespaces/payments/pods/app",
    "verb": "get",
    "status": 200,
    "bytes": 1532,
    "durationMs": 2.4,
    "gateway": "gateway",
    "gatewaySeq": 7,
    "gatewayInstance": "gw/1",
}


def test_a_forwarded_request_reads_as_method_path_and_status() -> None:
    assert describe("activity.request", REQUEST) == "GET /api/v1/namespaces/payments/pods/app -> 200 (1532 B, 2.4 ms)"


def test_a_refusal_says_why() -> None:
    refused = {"method": "GET", "path": "/api/v1/namespaces/payments/secrets", "status": 403, "reason": "no"}
    assert describe("activity.refused", refused) == "GET /api/v1/namespaces/payments/secrets refused (403): no"


def test_an_exec_session_shows_its_command_and_output() -> None:
    closed = {
        "command": ["sh", "-c", "cat /etc/hostname; ls"],
        "closed": "closed",
        "output": "app\nbin\netc\n",
        "outputBytes": 12,
        "inputBytes": 0,
    }
    assert describe("activity.exec", {"command": ["ls", "-l"]}) == "exec ls -l started"
    assert describe("activity.session-closed", closed).splitlines() == [
        "exec sh -c 'cat /etc/hostname; ls' ended (closed): 12 B out, 0 B in",
        "  | app",
        "  | bin",
        "  | etc",
    ]


def test_long_output_is_cut_with_a_pointer_to_the_whole_record() -> None:
    output = "\n".join(f"line {n}" for n in range(MAX_OUTPUT_LINES + 5))
    text = describe("activity.session-closed", {"command": ["dmesg"], "output": output, "truncated": True})
    lines = text.splitlines()
    assert len(lines) == 1 + MAX_OUTPUT_LINES + 2
    assert lines[-2] == "  ... 5 more line(s): -o json has all of it"
    assert lines[-1] == "  (the gateway kept only the beginning of the output)"


def test_other_events_show_their_data() -> None:
    assert describe("request.approved", {"comment": "ok", "empty": ""}) == "comment=ok"


def test_every_audit_kind_has_its_wording() -> None:
    from kubejit.entrypoints.cli.audit_text import _WORDING

    assert set(_WORDING) == set(AuditKind)
    for kind in AuditKind:
        assert isinstance(describe(kind, REQUEST), str)
    assert describe(AuditKind.BINDING_SWEPT, {"reason": "gone", "bindings": []}) == "reason=gone"
    assert describe("some.future-kind", {"a": 1}) == "a=1"  # a newer broker's kinds still read as data
