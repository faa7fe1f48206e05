"""Which containers a pod-writing request would start, read from its body: every kind that makes pods, every body
shape and patch type, `$(VAR)` expansion, merging patches that only say part of a command line, and bodies the
gateway cannot read (each becomes a reason, never an exception)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubejit.domain.pod_commands import (
    MAX_BODY_BYTES,
    MAX_COMMAND_CHARS,
    PodCommands,
    RequestBody,
    extract_pod_commands,
    writes_pod_commands,
)
from kubejit.domain.requestinfo import RequestAttributes, parse_request

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
DENIED = {"name": "app", "image": "busybox", "command": ["rm"], "args": ["-rf", "/"]}


def attrs(method: str, path: str) -> RequestAttributes:
    return parse_request(method, path)


def extract(method: str, path: str, document: Any, content_type: str = "application/json") -> PodCommands:
    return extract_pod_commands(attrs(method, path), RequestBody(json.dumps(document).encode(), content_type))


def argvs(found: PodCommands) -> list[tuple[str, ...]]:
    assert found.unknown == (), found.unknown
    return [run.argv for run in found.runs]


def pod_spec(*containers: dict[str, Any], key: str = "containers") -> dict[str, Any]:
    return {key: list(containers)}


def pod(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": pod_spec(*containers)}


KINDS = [
    ("/api/v1/namespaces/a/pods", lambda spec: {"kind": "Pod", "spec": spec}),
    ("/api/v1/namespaces/a/replicationcontrollers", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("/api/v1/namespaces/a/podtemplates", lambda spec: {"template": {"spec": spec}}),
    ("/apis/apps/v1/namespaces/a/deployments", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("/apis/apps/v1/namespaces/a/replicasets", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("/apis/apps/v1/namespaces/a/statefulsets", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("/apis/apps/v1/namespaces/a/daemonsets", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("/apis/batch/v1/namespaces/a/jobs", lambda spec: {"spec": {"template": {"spec": spec}}}),
    (
        "/apis/batch/v1/namespaces/a/cronjobs",
        lambda spec: {"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}},
    ),
]


@pytest.mark.parametrize(("path", "wrap"), KINDS, ids=[path.rsplit("/", 1)[1] for path, _ in KINDS])
@pytest.mark.parametrize("key", ["containers", "initContainers", "ephemeralContainers"])
def test_every_kind_that_makes_pods_is_read_on_create(path: str, wrap: Any, key: str) -> None:
    found = extract("POST", path, wrap(pod_spec(DENIED, key=key)))
    assert argvs(found) == [("rm", "-rf", "/")]
    assert found.runs[0].where.endswith(f"{key}[0] (app)")
    assert found.runs[0].ephemeral is (key == "ephemeralContainers")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/namespaces/a/pods"),
        ("PUT", "/api/v1/namespaces/a/pods/p"),
        ("PATCH", "/apis/apps/v1/namespaces/a/deployments/d"),
        ("PUT", "/api/v1/namespaces/a/pods/p/ephemeralcontainers"),
        ("PATCH", "/api/v1/namespaces/a/pods/p/ephemeralcontainers"),
        ("POST", "/apis/extensions/v1beta1/namespaces/a/deployments"),
    ],
)
def test_writes_of_pod_commands_are_named(method: str, path: str) -> None:
    assert writes_pod_commands(attrs(method, path))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/namespaces/a/pods/p"),
        ("DELETE", "/apis/apps/v1/namespaces/a/deployments/d"),
        ("POST", "/api/v1/namespaces/a/configmaps"),
        ("PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale"),
        ("PUT", "/api/v1/namespaces/a/pods/p/status"),
        ("POST", "/api/v1/namespaces/a/pods/p/eviction"),
        ("POST", "/apis/example.com/v1/namespaces/a/deployments"),
    ],
)
def test_other_requests_are_not(method: str, path: str) -> None:
    assert not writes_pod_commands(attrs(method, path))
    assert extract_pod_commands(attrs(method, path), None) == PodCommands()


def test_command_and_args_make_the_argv_and_args_alone_are_checked_as_one() -> None:
    found = extract(
        "POST",
        "/api/v1/namespaces/a/pods",
        pod(
            {"name": "a", "command": ["sh", "-c"], "args": ["echo hi"]},
            {"name": "b", "args": ["rm", "-rf", "/"]},  # kubectl run --image=busybox b -- rm -rf /
            {"name": "c", "image": "nginx"},
            {"name": "d", "command": ["sleep"], "args": None},
        ),
    )
    assert argvs(found) == [("sh", "-c", "echo hi"), ("rm", "-rf", "/"), (), ("sleep",)]
    assert [run.entrypoint for run in found.runs] == [False, False, True, False]


def test_stdin_or_tty_make_an_interactive_container() -> None:
    found = extract(
        "POST",
        "/api/v1/namespaces/a/pods",
        pod({"name": "a", "stdin": True}, {"name": "b", "tty": True}, {"name": "c", "stdin": False}),
    )
    assert [run.interactive for run in found.runs] == [True, True, False]


def test_kubelet_variable_references_are_expanded_from_literal_env() -> None:
    container = {
        "name": "a",
        "command": ["$(PROG)", "$(FLAGS)", "$$(PROG)", "$(", "$x", "/$(DIR)"],
        "env": [
            {"name": "PROG", "value": "rm"},
            {"name": "FLAGS", "value": "-$(R)f"},  # refers to R before R is defined: unknown
            {"name": "R", "value": "r"},
            {"name": "DIR", "value": "data"},
        ],
    }
    found = extract("POST", "/api/v1/namespaces/a/pods", pod(container))
    assert found.runs == ()
    assert "$(FLAGS)" in found.unknown[0]
    container["env"][1] = {"name": "FLAGS", "value": "-rf"}
    found = extract("POST", "/api/v1/namespaces/a/pods", pod(container))
    assert argvs(found) == [("rm", "-rf", "$(PROG)", "$(", "$x", "/data")]
    assert found.runs[0].environment == ("PROG=rm", "FLAGS=-rf", "R=r", "DIR=data")
    assert found.runs[0].analysed_argv()[:3] == ("env", "--", "PROG=rm")


@pytest.mark.parametrize(
    "env",
    [
        [],
        [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
        [{"name": "X", "value": "$(Y)"}],
    ],
    ids=["undefined", "valueFrom", "refers-to-undefined"],
)
def test_a_reference_the_request_does_not_give_a_value_cannot_be_told(env: list[dict[str, Any]]) -> None:
    """An undefined name may be defined at run time (envFrom, a ConfigMap edit, a later patch of env)."""
    container = {"name": "a", "command": ["$(X)", "-rf", "/"], "env": env, "envFrom": [{"configMapRef": {"name": "c"}}]}
    found = extract("POST", "/api/v1/namespaces/a/pods", pod(container))
    assert found.runs == ()
    assert "refers to $(X)" in found.unknown[0]


def test_strategic_merge_patch_entries_must_say_the_whole_command_line() -> None:
    path = "/apis/apps/v1/namespaces/a/deployments/d"

    def patch(*containers: dict[str, Any]) -> PodCommands:
        return extract("PATCH", path, {"spec": {"template": {"spec": pod_spec(*containers)}}}, SMP)

    assert argvs(patch({"name": "a", "image": "nginx:2"})) == []  # kubectl set image: the command does not change
    assert argvs(patch({"name": "a", "command": ["rm"], "args": ["-rf", "/"]})) == [("rm", "-rf", "/")]
    assert argvs(patch({"name": "a", "command": None, "args": None})) == [()]
    assert argvs(patch({"name": "a", "$patch": "delete"})) == []
    for partial in (
        {"name": "a", "args": ["-rf", "/"]},
        {"name": "a", "command": ["sh", "-c"]},
        {"name": "a", "env": [{"name": "X", "value": "rm"}]},  # kubectl set env: $(X) in the stored command
        {"name": "a", "stdin": True},
    ):
        found = patch(partial)
        assert found.runs == ()
        assert "not both command and args" in found.unknown[0], found.unknown
    directive = patch({"name": "a", "$retainKeys": ["command"], "command": ["x"], "args": []})
    assert "patch directive $retainKeys" in directive.unknown[0]


def test_server_side_apply_is_read_like_a_merging_patch() -> None:
    path = "/apis/apps/v1/namespaces/a/deployments/d"
    found = extract("PATCH", path, {"spec": {"template": {"spec": pod_spec({"name": "a", "args": ["x"]})}}}, APPLY)
    assert "not both command and args" in found.unknown[0]


def test_new_ephemeral_containers_are_whole_even_in_a_merging_patch() -> None:
    """kubectl debug: a strategic merge patch of pods/ephemeralcontainers with the new container (command only)."""
    debug = {
        "spec": {
            "ephemeralContainers": [
                {"name": "debugger-x", "image": "busybox", "command": ["sh"], "stdin": True, "tty": True}
            ],
            "$setElementOrder/ephemeralContainers": [{"name": "debugger-x"}],
        }
    }
    found = extract("PATCH", "/api/v1/namespaces/a/pods/p/ephemeralcontainers", debug, SMP)
    assert argvs(found) == [("sh",)]
    assert found.runs[0].interactive
    assert found.runs[0].ephemeral
    # The same patch of the pod itself: its ephemeral containers would be merged, so command alone says too little.
    assert extract("PATCH", "/api/v1/namespaces/a/pods/p", debug, SMP).unknown


def test_a_json_merge_patch_replaces_lists_so_its_containers_are_whole() -> None:
    found = extract("PATCH", "/api/v1/namespaces/a/pods/p", {"spec": pod_spec({"name": "a", "args": ["ls"]})}, MERGE)
    assert argvs(found) == [("ls",)]


def test_a_put_of_a_whole_pod_to_ephemeralcontainers_is_read_whole() -> None:
    pod = {"spec": {"containers": [{"name": "app"}], "ephemeralContainers": [DENIED]}}
    found = extract("PUT", "/api/v1/namespaces/a/pods/p/ephemeralcontainers", pod)
    assert argvs(found) == [(), ("rm", "-rf", "/")]


DEPLOYMENT = "/apis/apps/v1/namespaces/a/deployments/d"
CONTAINERS = "/spec/template/spec/containers"


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        ([{"op": "add", "path": f"{CONTAINERS}/-", "value": DENIED}], [("rm", "-rf", "/")]),
        ([{"op": "replace", "path": CONTAINERS, "value": [DENIED]}], [("rm", "-rf", "/")]),
        ([{"op": "replace", "path": "/spec/template", "value": {"spec": pod_spec(DENIED)}}], [("rm", "-rf", "/")]),
        (
            [{"op": "replace", "path": "", "value": {"spec": {"template": {"spec": pod_spec(DENIED)}}}}],
            [("rm", "-rf", "/")],
        ),
        (
            [
                {"op": "replace", "path": f"{CONTAINERS}/0/command", "value": ["rm"]},
                {"op": "add", "path": f"{CONTAINERS}/0/args", "value": ["-rf", "/"]},
            ],
            [("rm", "-rf", "/")],
        ),
        (
            [
                {"op": "remove", "path": f"{CONTAINERS}/0/command"},
                {"op": "replace", "path": f"{CONTAINERS}/0/args", "value": ["ls"]},
            ],
            [("ls",)],
        ),
        ([{"op": "replace", "path": f"{CONTAINERS}/0/image", "value": "nginx:2"}], []),
        ([{"op": "remove", "path": f"{CONTAINERS}/1"}, {"op": "test", "path": "/spec", "value": {}}], []),
        ([{"op": "replace", "path": "/spec/replicas", "value": 3}], []),
        ([{"op": "replace", "path": "/spec/template/spec/initContainers~1x/0/command", "value": ["rm"]}], []),
    ],
)
def test_json_patch_operations_are_evaluated(operations: list[dict[str, Any]], expected: list[tuple[str, ...]]) -> None:
    assert argvs(extract("PATCH", DEPLOYMENT, operations, JSON_PATCH)) == expected


@pytest.mark.parametrize(
    ("operations", "problem"),
    [
        ([{"op": "replace", "path": f"{CONTAINERS}/0/args", "value": ["-rf", "/"]}], "not both command and args"),
        ([{"op": "add", "path": f"{CONTAINERS}/0/env/-", "value": {"name": "X", "value": "rm"}}], "not both"),
        ([{"op": "replace", "path": f"{CONTAINERS}/0/command/0", "value": "rm"}], "edits part of command"),
        ([{"op": "copy", "from": "/metadata/annotations/x", "path": f"{CONTAINERS}/0/command"}], "copys a value"),
        ([{"op": "move", "from": "/metadata/x", "path": "/spec/template"}], "over the pod spec"),
        ([{"op": "replace", "path": f"{CONTAINERS}/-/command", "value": ["rm"]}], "at index '-'"),
        ([{"op": "frobnicate", "path": "/spec"}], "not an operation"),
        ([{"op": "add", "path": "spec/template", "value": {}}], "not a JSON pointer"),
        ({"op": "add", "path": "/spec"}, "must be a list of operations"),
    ],
)
def test_json_patch_operations_it_cannot_evaluate_cannot_be_told(operations: Any, problem: str) -> None:
    found = extract("PATCH", DEPLOYMENT, operations, JSON_PATCH)
    assert found.runs == ()
    assert problem in found.unknown[0], found.unknown


@pytest.mark.parametrize(
    ("data", "content_type", "content_encoding", "problem"),
    [
        (b"\x0ak8s\x00...", "application/vnd.kubernetes.protobuf", "", "does not read"),
        (b"\xa1", "application/cbor", "", "does not read"),
        (b"{}", "application/json", "gzip", "Content-Encoding 'gzip'"),
        (b"kind: Pod\nspec: {}\n", "application/yaml", "", "not JSON"),
        (b'{"spec": {', "application/json", "", "not JSON"),
        (b"\xff\xfe{}", "application/json", "", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "", "not JSON"),
        (b'{"spec": {"containers": [], "containers": []}}', "application/json", "", "'containers' appears twice"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", "application/json", "", "larger than"),
        (b"{}", "application/x-www-form-urlencoded", "", "does not read"),
    ],
    ids=["protobuf", "cbor", "gzip", "yaml", "truncated", "not-utf8", "deep", "duplicate-key", "huge", "form"],
)
def test_bodies_it_cannot_read_cannot_be_told(
    data: bytes, content_type: str, content_encoding: str, problem: str
) -> None:
    found = extract_pod_commands(
        attrs("POST", "/api/v1/namespaces/a/pods"), RequestBody(data, content_type, content_encoding)
    )
    assert found.runs == ()
    assert problem in found.unknown[0], found.unknown


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/json"])
def test_a_patch_of_an_unknown_type_cannot_be_told(content_type: str) -> None:
    found = extract("PATCH", DEPLOYMENT, {"spec": {}}, content_type)
    assert "is not one the gateway evaluates" in found.unknown[0]


def test_json_sent_as_yaml_is_read_and_no_body_cannot_be_told() -> None:
    assert argvs(extract("POST", "/api/v1/namespaces/a/pods", {"spec": pod_spec(DENIED)}, "application/yaml"))
    assert argvs(
        extract("POST", "/api/v1/namespaces/a/pods", {"spec": pod_spec(DENIED)}, "application/json; charset=utf-8")
    )
    missing = extract_pod_commands(attrs("POST", "/api/v1/namespaces/a/pods"), None)
    assert missing.unknown == ("the gateway did not read the request body",)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("x", "spec is not an object"),
        ({"containers": {"name": "a"}}, "spec.containers is not a list"),
        ({"containers": ["sh"]}, "spec.containers[0] is not an object"),
        ({"containers": [{"name": "a", "command": "rm -rf /"}]}, "command is not a list of strings"),
        ({"containers": [{"name": "a", "args": [1]}]}, "args is not a list of strings"),
        ({"containers": [{"name": "a", "env": {"X": "y"}}]}, "env is not a list of objects"),
        ({"containers": [{"name": "a", "env": [{"name": "X", "value": 1}]}]}, "env[0] is not a name"),
    ],
)
def test_shapes_it_cannot_read_are_named(spec: Any, problem: str) -> None:
    found = extract("POST", "/api/v1/namespaces/a/pods", {"spec": spec})
    assert problem in found.unknown[0], found.unknown


def test_absent_or_null_levels_hold_no_containers() -> None:
    assert argvs(extract("POST", "/api/v1/namespaces/a/pods", {"metadata": {"name": "p"}})) == []
    assert argvs(extract("PATCH", DEPLOYMENT, {"spec": {"template": None}}, MERGE)) == []
    assert argvs(extract("PATCH", DEPLOYMENT, {"spec": {"replicas": 2}}, SMP)) == []


def test_command_lines_beyond_the_cap_together_cannot_be_told() -> None:
    word = "x" * (MAX_COMMAND_CHARS // 2)
    containers = [{"name": f"c{i}", "command": ["echo", word]} for i in range(3)]
    found = extract_pod_commands(
        attrs("POST", "/api/v1/namespaces/a/pods"),
        RequestBody(json.dumps({"spec": {"containers": containers}}).encode(), "application/json"),
    )
    assert len(found.runs) == 1
    assert f"longer than {MAX_COMMAND_CHARS} characters together" in found.unknown[0]
