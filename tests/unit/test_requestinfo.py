"""Request parsing: attributes equal kube-apiserver's RequestInfo, and non-canonical paths are refused.

The tables were checked against k8s.io/apiserver v0.37.2's RequestInfoFactory (see the module docstring of
kubejit.domain.requestinfo); the properties check that an accepted path has exactly one reading: it is
its own canonical form, and a plain transliteration of kube-apiserver's algorithm reads it the same way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kubejit.domain.errors import InvalidInput
from kubejit.domain.requestinfo import MAX_PATH_LENGTH, NonCanonicalPath, RequestAttributes, parse_request

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def request(line: str, *, upgrade: bool = False) -> RequestAttributes:
    """``"GET /path?query"`` -> parse_request."""
    method, _, target = line.partition(" ")
    path, _, query = target.partition("?")
    return parse_request(method, path, query, upgrade=upgrade)


def res(verb: str, resource: str, ns: str = "", name: str = "", sub: str = "", group: str = "") -> dict[str, Any]:
    return {
        "is_resource_request": True,
        "verb": verb,
        "api_prefix": "apis" if group else "api",
        "api_group": group,
        "namespace": ns,
        "resource": resource,
        "name": name,
        "subresource": sub,
    }


def nonres(verb: str) -> dict[str, Any]:
    return {"is_resource_request": False, "verb": verb, "resource": "", "name": "", "namespace": ""}


RBAC = "rbac.authorization.k8s.io"
SPDY_EXEC = "POST /api/v1/namespaces/payments/pods/web/exec?command=sh&command=-c&command=rm%20-rf%20%2F&stdin=true"

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    # core group, namespaced
    ("GET /api/v1/namespaces/payments/pods/web", res("get", "pods", "payments", "web")),
    ("GET /api/v1/namespaces/payments/pods", res("list", "pods", "payments")),
    ("HEAD /api/v1/namespaces/payments/pods/web", res("get", "pods", "payments", "web")),
    ("HEAD /api/v1/namespaces/payments/pods", res("list", "pods", "payments")),
    ("POST /api/v1/namespaces/payments/pods", res("create", "pods", "payments")),
    ("PUT /api/v1/namespaces/payments/configmaps/cfg", res("update", "configmaps", "payments", "cfg")),
    ("PATCH /api/v1/namespaces/payments/configmaps/cfg", res("patch", "configmaps", "payments", "cfg")),
    ("DELETE /api/v1/namespaces/payments/pods/web", res("delete", "pods", "payments", "web")),
    ("DELETE /api/v1/namespaces/payments/pods", res("deletecollection", "pods", "payments")),
    ("DELETE /api/v1/namespaces/payments/pods?labelSelector=app%3Dweb", res("deletecollection", "pods", "payments")),
    # a field selector names an object only for list/watch: a DELETE stays deletecollection
    (
        "DELETE /api/v1/namespaces/payments/secrets?fieldSelector=metadata.name%3Ddb",
        res("deletecollection", "secrets", "payments"),
    ),
    ("GET /api/v1/pods", res("list", "pods")),  # all namespaces
    ("GET /api/v1/namespaces/payments/configmaps/a.", res("get", "configmaps", "payments", "a.")),  # read literally
    # cluster-scoped
    ("GET /api/v1/nodes", res("list", "nodes")),
    ("GET /api/v1/nodes/node-1", res("get", "nodes", name="node-1")),
    (
        "GET /apis/rbac.authorization.k8s.io/v1/clusterroles/system:view",
        res("get", "clusterroles", name="system:view", group=RBAC),
    ),
    (
        "GET /apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Aview",
        res("get", "clusterroles", name="system:view", group=RBAC),
    ),
    ("POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings", res("create", "clusterrolebindings", group=RBAC)),
    ("GET /api/v1/namespaces", res("list", "namespaces")),
    ("GET /api/v1/namespaces/payments", res("get", "namespaces", "payments", "payments")),
    ("DELETE /api/v1/namespaces/payments", res("delete", "namespaces", "payments", "payments")),
    ("PUT /api/v1/namespaces/payments/status", res("update", "namespaces", "payments", "payments", "status")),
    ("PUT /api/v1/namespaces/payments/finalize", res("update", "namespaces", "payments", "payments", "finalize")),
    # other groups and CRDs
    (
        "GET /apis/apps/v1/namespaces/payments/deployments/web",
        res("get", "deployments", "payments", "web", group="apps"),
    ),
    (
        "PUT /apis/apps/v1/namespaces/payments/deployments/web/scale",
        res("update", "deployments", "payments", "web", "scale", "apps"),
    ),
    (
        "PATCH /apis/apps/v1/namespaces/payments/deployments/web/status",
        res("patch", "deployments", "payments", "web", "status", "apps"),
    ),
    ("GET /apis/example.com/v1/namespaces/x/widgets/w", res("get", "widgets", "x", "w", group="example.com")),
    ("GET /apis/example.com/v1/widgets", res("list", "widgets", group="example.com")),
    (
        "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        res("create", "selfsubjectaccessreviews", group="authorization.k8s.io"),
    ),
    # watch: query parameter (any first value but 0/false, case-insensitive) or the legacy /watch/ segment
    ("GET /api/v1/namespaces/payments/pods?watch=true", res("watch", "pods", "payments")),
    ("GET /api/v1/namespaces/payments/pods?watch=1&resourceVersion=10", res("watch", "pods", "payments")),
    ("GET /api/v1/namespaces/payments/pods?watch=", res("watch", "pods", "payments")),
    ("GET /api/v1/namespaces/payments/pods?watch=false", res("list", "pods", "payments")),
    ("GET /api/v1/namespaces/payments/pods?watch=FALSE&watch=true", res("list", "pods", "payments")),
    ("GET /api/v1/namespaces/payments/pods?watch=0", res("list", "pods", "payments")),
    ("GET /api/v1/namespaces/payments/pods/web?watch=true", res("get", "pods", "payments", "web")),  # named: stays get
    ("GET /api/v1/watch/namespaces/payments/pods", res("watch", "pods", "payments")),
    ("GET /api/v1/watch/namespaces/payments/pods/web", res("watch", "pods", "payments", "web")),
    ("GET /apis/apps/v1/watch/deployments", res("watch", "deployments", group="apps")),
    # fieldSelector=metadata.name=X on a list/watch names the object, as kube-apiserver does (kubectl get -w, wait)
    (
        "GET /api/v1/namespaces/payments/pods?fieldSelector=metadata.name%3Dweb&watch=true",
        res("watch", "pods", "payments", "web"),
    ),
    (
        "GET /api/v1/namespaces/payments/pods?fieldSelector=metadata.name%3D%3Dweb",
        res("list", "pods", "payments", "web"),
    ),
    ("GET /api/v1/pods?fieldSelector=spec.nodeName%3Dn1,metadata.name%3Dweb", res("list", "pods", name="web")),
    ("GET /api/v1/namespaces/payments/pods?fieldSelector=metadata.name!%3Dweb", res("list", "pods", "payments")),
    # ...unless kube-apiserver fails to decode the list options (then it ignores the selector)
    (
        "GET /api/v1/namespaces/payments/pods?fieldSelector=metadata.name%3Dweb&limit=abc",
        res("list", "pods", "payments"),
    ),
    ("GET /api/v1/namespaces/payments/pods?fieldSelector=metadata.name%3Dw%5Cb", res("list", "pods", "payments")),
    # ...or the name could not be a path segment
    ("GET /api/v1/namespaces/payments/pods?fieldSelector=metadata.name%3D..", res("list", "pods", "payments")),
    # subresources
    (
        "GET /api/v1/namespaces/payments/pods/web/log?container=app&follow=true",
        res("get", "pods", "payments", "web", "log"),
    ),
    (SPDY_EXEC, res("create", "pods", "payments", "web", "exec")),
    ("POST /api/v1/namespaces/payments/pods/web/eviction", res("create", "pods", "payments", "web", "eviction")),
    (
        "PATCH /api/v1/namespaces/payments/pods/web/ephemeralcontainers",
        res("patch", "pods", "payments", "web", "ephemeralcontainers"),
    ),
    (
        "POST /api/v1/namespaces/payments/serviceaccounts/deployer/token",
        res("create", "serviceaccounts", "payments", "deployer", "token"),
    ),
    ("GET /api/v1/nodes/node-1/proxy/metrics", res("get", "nodes", name="node-1", sub="proxy")),
    (
        "GET /api/v1/namespaces/payments/services/https:web:8443/proxy/",
        res("get", "services", "payments", "https:web:8443", "proxy"),
    ),
    # the legacy /proxy/ verb has no subresource: everything after the name is the proxied path
    ("GET /api/v1/proxy/namespaces/payments/pods/web/healthz", res("proxy", "pods", "payments", "web")),
    ("GET /api/v1/pods/", res("list", "pods")),  # one trailing slash: kube-apiserver ignores it
    # non-resource requests: the verb is the lower-cased method
    ("GET /", nonres("get")),
    ("GET /api", nonres("get")),
    ("GET /api/v1", nonres("get")),
    ("GET /apis", nonres("get")),
    ("GET /apis/apps", nonres("get")),
    ("GET /apis/apps/v1", nonres("get") | {"api_prefix": "apis"}),  # RequestInfo keeps the prefix here
    ("GET /version", nonres("get")),
    ("GET /healthz", nonres("get")),
    ("HEAD /healthz", nonres("head")),
    ("GET /readyz?verbose", nonres("get")),
    ("GET /openapi/v3", nonres("get")),
    ("GET /openapi/v3/apis/apps/v1?hash=0A1B", nonres("get")),
    ("POST /logs", nonres("post")),
    ("OPTIONS /apis", nonres("options")),
]


@pytest.mark.parametrize(("line", "expected"), ACCEPTED, ids=[line for line, _ in ACCEPTED])
def test_attributes_match_kube_apiserver(line: str, expected: dict[str, Any]) -> None:
    attrs = request(line)
    assert {key: getattr(attrs, key) for key in expected} == expected
    if attrs.is_resource_request:
        assert attrs.api_version == "v1"
    assert attrs.upgrade is False


@pytest.mark.parametrize(("line", "_"), ACCEPTED, ids=[line for line, _ in ACCEPTED])
def test_the_canonical_form_reads_the_same(line: str, _: dict[str, Any]) -> None:
    attrs = request(line)
    if "watch" not in line:  # a watch from the query string re-renders without its query
        assert canonical_path(attrs) == attrs.path
    assert parse_request(line.split(" ")[0], attrs.path, line.partition("?")[2]) == attrs


def test_exec_commands_are_kept_in_order_and_percent_decoded() -> None:
    attrs = request(SPDY_EXEC, upgrade=True)
    assert attrs.query_values("command") == ("sh", "-c", "rm -rf /")
    assert attrs.query_values("stdin") == ("true",)
    assert attrs.query == (("command", "sh"), ("command", "-c"), ("command", "rm -rf /"), ("stdin", "true"))
    assert attrs.upgrade is True
    assert attrs.resource_path == "pods/exec"


def test_query_is_decoded_like_go_plus_is_a_space() -> None:
    attrs = request("POST /api/v1/namespaces/p/pods/w/exec?command=echo+a%2Bb&command=&command&command=%E2%9C%93")
    assert attrs.query_values("command") == ("echo a+b", "", "", "\u2713")


@pytest.mark.parametrize("subresource", ["exec", "attach", "portforward"])
def test_websocket_upgrade_of_a_connect_subresource_is_get_with_upgrade(subresource: str) -> None:
    # kube-apiserver's RequestInfo says get; 1.35+ also checks create. The flag lets the gateway do the same.
    attrs = request(f"GET /api/v1/namespaces/payments/pods/web/{subresource}?stdin=true", upgrade=True)
    assert (attrs.verb, attrs.resource_path, attrs.upgrade) == ("get", f"pods/{subresource}", True)


def test_selectors_are_recorded_for_collection_verbs_only() -> None:
    listed = request("GET /api/v1/namespaces/p/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1")
    assert (listed.label_selector, listed.field_selector) == ("app=web", "spec.nodeName=n1")
    named = request("GET /api/v1/namespaces/p/pods/web?labelSelector=app%3Dweb")
    assert (named.label_selector, named.field_selector) == ("", "")
    legacy = request("GET /api/v1/watch/namespaces/p/pods?labelSelector=app%3Dweb")  # not with the /watch/ path
    assert (legacy.verb, legacy.label_selector) == ("watch", "")
    first = request("GET /api/v1/pods?labelSelector=a%3D1&labelSelector=b%3D2")
    assert first.label_selector == "a=1"


@pytest.mark.parametrize(
    ("selector", "name"),
    [
        ("metadata.name%3Db,metadata.name%3Da", "a"),  # kube sorts the terms: the first in sorted order wins
        ("metadata.name%3Da%5C,b", "a,b"),  # \, is an escaped comma
        ("metadata.name%3Da%5C%3Db", "a=b"),
        ("metadata.name%3Da%3Db", ""),  # unescaped = in a value: the selector does not parse
        ("metadata.name%3D", ""),
        ("+metadata.name%3Dx", ""),  # the field is not trimmed
        ("metadata.name%3Da%25", ""),  # % cannot be in a name
    ],
)
def test_field_selector_names_follow_apimachinery(selector: str, name: str) -> None:
    assert request(f"GET /api/v1/namespaces/p/pods?fieldSelector={selector}").name == name


def test_the_first_field_selector_parameter_is_the_one_read() -> None:
    attrs = request("GET /api/v1/pods?fieldSelector=metadata.name%3Done&fieldSelector=metadata.name%3Dtwo")
    assert (attrs.name, attrs.field_selector) == ("one", "metadata.name=one")


def test_proxy_paths_keep_the_rest_of_the_path_in_parts() -> None:
    attrs = request("GET /api/v1/namespaces/p/services/web:80/proxy/api/v2/items")
    assert attrs.parts == ("services", "web:80", "proxy", "api", "v2", "items")
    legacy = request("GET /api/v1/proxy/nodes/node-1/stats/summary")
    assert (legacy.verb, legacy.resource, legacy.name, legacy.subresource) == ("proxy", "nodes", "node-1", "")
    assert legacy.parts == ("nodes", "node-1", "stats", "summary")


def test_percent_escapes_of_safe_characters_are_decoded_like_go() -> None:
    attrs = request("GET /api/v1/namespaces/payments/configmaps/%61%62c")
    assert (attrs.name, attrs.path) == ("abc", "/api/v1/namespaces/payments/configmaps/abc")
    assert request("GET /%61pi/v1/pods").resource == "pods"  # kube-apiserver decodes before it splits


LONG = "/api/v1/namespaces/a/configmaps/" + "x" * MAX_PATH_LENGTH
REJECTED: list[tuple[str, str]] = [
    ("/api/v1/namespaces/a/../b/pods", "'..' segment"),
    ("/api/v1/namespaces/a/./pods", "'.' segment"),
    ("/api/v1/namespaces/a/pods/..", "'..' segment"),
    ("/api/v1/namespaces/a/pods/../", "'..' segment"),
    ("/..", "'..' segment"),
    ("/api/v1/namespaces/%2e%2e/pods", "'..' segment"),
    ("/api/v1/namespaces/%2E%2e/pods", "'..' segment"),
    ("/api/v1/namespaces/.%2e/pods", "'..' segment"),
    ("/api/v1/namespaces/a/%2e/pods", "'.' segment"),
    ("/api/v1//pods", "empty segment"),
    ("//api/v1/pods", "empty segment"),
    ("/api/v1/pods//", "empty segment"),
    ("/api/v1/namespaces/a%2Fb/pods", "percent-encodes '/'"),
    ("/api/v1/namespaces/a%2fb/pods", "percent-encodes '/'"),
    ("/api/v1/namespaces/a/pods/%2F", "percent-encodes '/'"),
    ("/api/v1/namespaces/a\\..\\b/pods", "backslash"),
    ("/api/v1/namespaces/a%5Cb/pods", "backslash"),
    ("/api/v1/namespaces/a%5c..%5cb/pods", "backslash"),
    ("/api/v1/namespaces/a\x00/pods", "control character"),
    ("/api/v1/namespaces/a%00/pods", "control character"),
    ("/api/v1/namespaces/a%0A/pods", "control character"),
    ("/api/v1/namespaces/a\t/pods", "control character"),
    ("/api/v1/namespaces/a%7F/pods", "control character"),
    ("/api/v1/namespaces/%zz/pods", "invalid percent-escape"),
    ("/api/v1/namespaces/a%2/pods", "invalid percent-escape"),
    ("/api/v1/pods%", "invalid percent-escape"),
    ("/api/v1/namespaces/%25/pods", "percent-encodes '%'"),  # double encoding: %252F
    ("/api/v1/namespaces/a%252Fb/pods", "percent-encodes '%'"),
    ("/api/v1/namespaces/a%3Bb/pods", "percent-encodes ';'"),
    ("/api/v1/namespaces/a;b/pods", "contains ';'"),
    ("/api/v1/namespaces/a/pods/x;.json", "contains ';'"),
    ("/api/v1/namespaces/a%3Fb/pods", "percent-encodes '?'"),
    ("/api/v1/namespaces/a%23b/pods", "percent-encodes '#'"),
    ("/api/v1/namespaces/a b/pods", "contains ' '"),
    ("/api/v1/namespaces/a%20b/pods", "percent-encodes ' '"),
    ("/api/v1/namespaces/caf\u00e9/pods", "non-ASCII"),
    ("/api/v1/namespaces/caf%C3%A9/pods", "non-ASCII"),
    ("/api/v1/namespaces/a%FF/pods", "not ASCII"),
    ("/api/v1/namespaces/\uff0e\uff0e/pods", "non-ASCII"),  # fullwidth dots: NFKC would make them '..'
    ("api/v1/pods", "does not start with '/'"),
    ("", "does not start with '/'"),
    ("*", "does not start with '/'"),
    ("http://kubernetes.default/api/v1/pods", "does not start with '/'"),
    ("/API/v1/namespaces/a/pods", "API prefixes are lower-case"),
    ("/Apis/apps/v1/deployments", "API prefixes are lower-case"),
    ("/api/v1/namespaces/a/namespaces/b", "namespaces inside the namespace"),
    ("/api/v1/namespaces/a/namespaces/a", "namespaces inside the namespace"),
    (LONG, "more than 8192"),
]


@pytest.mark.parametrize(("raw_path", "problem"), REJECTED, ids=[repr(p[:60]) for p, _ in REJECTED])
def test_non_canonical_paths_are_refused_never_normalized(raw_path: str, problem: str) -> None:
    with pytest.raises(NonCanonicalPath) as raised:
        parse_request("GET", raw_path)
    message = str(raised.value)
    assert problem in message
    assert "refused" in message


def test_a_refusal_is_an_invalid_input() -> None:
    assert issubclass(NonCanonicalPath, InvalidInput)


def test_a_path_of_exactly_the_limit_is_accepted() -> None:
    path = "/api/v1/namespaces/a/configmaps/"
    attrs = parse_request("GET", path + "x" * (MAX_PATH_LENGTH - len(path)))
    assert attrs.name == "x" * (MAX_PATH_LENGTH - len(path))


@pytest.mark.parametrize(
    ("method", "raw_path", "raw_query", "problem"),
    [
        ("TRACE", "/api/v1/pods", "", "method 'TRACE' is refused"),
        ("CONNECT", "/api/v1/pods", "", "method 'CONNECT' is refused"),
        ("get", "/api/v1/pods", "", "case-sensitive"),
        ("", "/healthz", "", "method '' is refused"),
        ("OPTIONS", "/api/v1/namespaces/a/pods", "", "derives no verb for OPTIONS"),
        ("GET", "/api/v1/watch", "", "names the verb 'watch' but no resource"),
        ("GET", "/apis/apps/v1/proxy", "", "names the verb 'proxy' but no resource"),
        ("GET", "/api/v1/pods", "watch=1;labelSelector=x", "contains ';'"),
        ("GET", "/api/v1/pods", "a=b c", "contains ' '"),
        ("GET", "/api/v1/pods", "a=b#c", "contains '#'"),
        ("GET", "/api/v1/pods", "a=\u00e9", "contains '\u00e9'"),
        ("GET", "/api/v1/pods", "a=\n", "contains '\\n'"),
        ("GET", "/api/v1/pods", "limit=%zz&watch=1", "invalid percent-escape"),
        ("POST", "/api/v1/namespaces/a/pods/w/exec", "command=%FF", "does not decode to UTF-8"),
        ("POST", "/api/v1/namespaces/a/pods/w/exec", "command=rm%00x", "NUL"),
        ("GET", "/api/v1/pods", "watch=fal%C5%BFe", "Unicode case folding"),
        (
            "GET",
            "/api/v1/pods",
            "fieldSelector=metadata.name%3Dweb&labelSelector=app%3Dweb",
            "both fieldSelector=metadata.name=... and a labelSelector",
        ),
    ],
)
def test_requests_kube_apiserver_would_read_ambiguously_are_invalid_input(
    method: str, raw_path: str, raw_query: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_request(method, raw_path, raw_query)
    assert problem in str(raised.value)


def test_a_field_selector_the_list_options_reject_first_needs_no_label_selector_check() -> None:
    # limit does not decode, so kube-apiserver ignores the field selector whatever the label selector says
    attrs = request("GET /api/v1/pods?fieldSelector=metadata.name%3Dweb&labelSelector=app%3Dweb&limit=x")
    assert (attrs.verb, attrs.name, attrs.label_selector) == ("list", "", "app=web")


# --- properties --------------------------------------------------------------------------------------------

NAMESPACE_SUBRESOURCES = ("status", "finalize")


def canonical_path(attrs: RequestAttributes) -> str:
    """Render attributes back to the one path that has them (for requests whose query holds no ``watch``)."""
    if not attrs.is_resource_request:
        return attrs.path
    segments = [attrs.api_prefix, *([attrs.api_group] if attrs.api_prefix == "apis" else []), attrs.api_version]
    if attrs.verb in ("watch", "proxy"):
        segments.append(attrs.verb)
    parts = list(attrs.parts)
    if attrs.namespace and parts[:2] != ["namespaces", attrs.namespace]:
        segments += ["namespaces", attrs.namespace]
    segments += parts
    return "/" + "/".join(segments) + ("/" if attrs.path.endswith("/") else "")


def kube_request_info(method: str, path: str) -> dict[str, Any]:  # noqa: C901 (kept in one piece to read beside the Go)
    """kube-apiserver's algorithm, transliterated plainly (no query string): the reference the parser must match."""
    info: dict[str, Any] = {"is_resource_request": False, "verb": method.lower(), "api_prefix": "", "api_group": ""}
    info |= {"api_version": "", "namespace": "", "resource": "", "subresource": "", "name": "", "parts": ()}
    parts = path.strip("/").split("/") if path.strip("/") else []
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return info
    info["api_prefix"] = parts.pop(0)
    if info["api_prefix"] == "apis":
        if len(parts) < 3:
            return info
        info["api_group"] = parts.pop(0)
    info["is_resource_request"] = True
    info["api_version"] = parts.pop(0)
    if parts[0] in ("proxy", "watch"):
        info["verb"] = parts.pop(0)
    else:
        verbs = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        info["verb"] = verbs.get(method, "")
    if parts[0] == "namespaces" and len(parts) > 1:
        info["namespace"] = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    info["parts"] = tuple(parts)
    if len(parts) >= 3 and info["verb"] != "proxy":
        info["subresource"] = parts[2]
    if len(parts) >= 2:
        info["name"] = parts[1]
    info["resource"] = parts[0]
    if not info["name"] and info["verb"] == "get":
        info["verb"] = "list"
    if not info["name"] and info["verb"] == "delete":
        info["verb"] = "deletecollection"
    return info


# fmt: off
TOKENS = [
    "api", "apis", "API", "v1", "apps", "example.com", "namespaces", "payments", "pods", "web", "exec", "status",
    "finalize", "watch", "proxy", "nodes", "log", "scale", "", ".", "..", "...", "a.", "%2e", "%2E%2e", ".%2e",
    "%2F", "a%2fb", "%5C", "a\\b", "%00", "\x00", "%zz", "%2", "%61pi", "system%3Aview", "system:view", "caf\u00e9",
    "%C3%A9", "%FF", ";", "%3B", "%3F", "%23", "%25", "%252e", "%20", " ", "~x", "a+b", "*", "\uff0e",
]
# fmt: on
segment = st.one_of(st.sampled_from(TOKENS), st.text(alphabet="ab.%2eEfF5cC/\\;?# :\x00\u00e9", max_size=6))
paths = st.builds(
    lambda lead, segments, tail: lead + "/".join(segments) + tail,
    st.sampled_from(["/", "/", "/", "//", "", "/api/v1/", "/apis/apps/v1/namespaces/payments/"]),
    st.lists(segment, max_size=8),
    st.sampled_from(["", "", "", "/", "//"]),
)


@settings(max_examples=600)
@given(method=st.sampled_from(METHODS), raw_path=paths, upgrade=st.booleans())
@example(method="GET", raw_path="/api/v1/namespaces/a/../b/pods", upgrade=False)
@example(method="GET", raw_path="/api/v1/namespaces/a%2Fb/pods", upgrade=False)
@example(method="GET", raw_path="/api/v1/namespaces/a/pods/", upgrade=False)
def test_an_accepted_path_has_exactly_one_reading(method: str, raw_path: str, upgrade: bool) -> None:
    try:
        attrs = parse_request(method, raw_path, upgrade=upgrade)
    except InvalidInput:
        return
    raw_segments = raw_path.strip("/").split("/")
    decoded_segments = attrs.path.strip("/").split("/")
    # decoding never changed the segment structure, and every segment is a plain, non-dot name
    assert len(raw_segments) == len(decoded_segments)
    assert [unquote(s) for s in raw_segments] == decoded_segments
    assert attrs.path == "/" or all(s not in ("", ".", "..") for s in decoded_segments)
    # the decoded path is its own canonical form, and rendering the attributes gives it back
    assert parse_request(method, attrs.path, upgrade=upgrade) == attrs
    assert canonical_path(attrs) == attrs.path
    # and kube-apiserver's own algorithm reads the same attributes from it
    reference = kube_request_info(method, attrs.path)
    assert {key: getattr(attrs, key) for key in reference} == reference


@given(method=st.text(max_size=8), raw_path=st.text(max_size=40), raw_query=st.text(max_size=40))
def test_any_input_is_parsed_or_refused_with_invalid_input(method: str, raw_path: str, raw_query: str) -> None:
    try:
        attrs = parse_request(method, raw_path, raw_query)
    except InvalidInput:
        return
    assert attrs.path.startswith("/")


command_words = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)


@given(st.lists(command_words, max_size=6))
def test_exec_commands_round_trip_in_order(command: list[str]) -> None:
    query = "&".join(f"command={quote(word, safe='')}" for word in command) + "&stdin=true"
    attrs = parse_request("POST", "/api/v1/namespaces/a/pods/w/exec", query)
    assert attrs.query_values("command") == tuple(command)


def test_attributes_are_frozen() -> None:
    attrs = request("GET /api/v1/pods")
    with pytest.raises(AttributeError):
        attrs.verb = "get"  # type: ignore[misc]
    assert replace(attrs, verb="watch").verb == "watch"
