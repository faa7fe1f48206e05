"""Kubernetes API request -> request attributes, the way kube-apiserver derives them.

The gateway decides on every request from these attributes (grant coverage, guardrails, activity records),
so they must be exactly what kube-apiserver's authorizer will see; a path that kube-apiserver would read
differently than we do is a bypass. Non-canonical paths are therefore rejected, never normalized.

What kube-apiserver does (k8s.io/apiserver ``RequestInfoFactory``, read for 1.37): it takes the
*percent-decoded* path (Go's ``URL.Path``), trims every leading and trailing ``/``, splits on ``/`` and reads
``/api/VERSION/...`` or ``/apis/GROUP/VERSION/...`` as a resource request, anything else as a non-resource
request whose verb is the lower-cased HTTP method. What :func:`parse_request` refuses, and why:

- a path that does not start with ``/``, or is longer than 8 KiB;
- empty segments (``//``, also a leading ``//``): kube-apiserver keeps an empty segment in the middle and
  shifts every later field by one. A single trailing ``/`` is accepted: kube-apiserver's request info and
  its go-restful router both ignore it (the attributes are those of the path without it), and the
  ``.../proxy/`` subresources forward it to the target, where it matters;
- ``.`` and ``..`` segments, written plainly or percent-encoded (``%2e``, ``.%2E``): kube-apiserver does
  not resolve them, but every HTTP library between the user and it may (CVE-2019-9901);
- percent-encoded ``/`` (``%2F``): kube-apiserver decodes before splitting, so ``a%2Fb`` is two segments to
  it and one to anything that splits first;
- ``\\``, ``%``, ``?``, ``#``, ``;``, space, control characters, DEL and non-ASCII, raw or decoded, and
  invalid escapes (``%zz``, which Go refuses with 400): none is in a Kubernetes name or resource, and each
  is read differently by some proxy, router or language runtime. Other escapes (``%3A``) are decoded
  exactly as Go decodes them, so there is one reading;
- ``/API/...`` and other case variants of the API prefixes: kube-apiserver reads them as non-resource
  paths (and 404s); a case-insensitive hop would not;
- a namespace inside a namespace (``/namespaces/a/namespaces/b``): kube-apiserver has no such route, and
  its request info reads ``/namespaces/a/namespaces/a`` exactly like the namespace ``a`` itself.

Segments ending in dots (``a.``, ``...``) are accepted and read literally: neither Go nor kube-apiserver
strips them. The query string is decoded like Go's ``URL.Query()`` (``+`` is a space); a ``;`` (Go
drops the pair), an invalid escape (Go drops the pair), NUL or invalid UTF-8 after decoding is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_to_bytes

from kubejit.domain.errors import InvalidInput

MAX_PATH_LENGTH = 8192

# Printable ASCII without / \ % ? # ; (and without space, which is below "!").
_SEGMENT_CHARS = r"!\"$&'()*+,\-.0-9:<=>@A-Z\[\]^_`a-z{|}~"
_PATH_CHARS = re.compile(rf"[/%{_SEGMENT_CHARS}]*")
_DECODED_SEGMENT = re.compile(rf"[{_SEGMENT_CHARS}]+")
# Printable ASCII without # and ;.
_RAW_QUERY = re.compile(r"[!\"$-:<-~]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INT64 = re.compile(r"[+-]?[0-9]+")

_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_NON_RESOURCE_VERBS = {method: method.lower() for method in (*_METHOD_VERBS, "OPTIONS")}
_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_API_PREFIXES = frozenset({"api", "apis"})
_VERBS_WITH_SELECTORS = frozenset({"list", "watch", "deletecollection"})


class NonCanonicalPath(InvalidInput):
    """The request path is not in the one form kube-apiserver and kubejit are sure to read the same way."""


@dataclass(frozen=True)
class RequestAttributes:
    """What a request asks to do. Mirrors k8s.io/apiserver's RequestInfo."""

    path: str  # percent-decoded, like Go's URL.Path (what RBAC's nonResourceURLs are matched against)
    verb: str  # get list watch create update patch delete deletecollection, or the HTTP verb for non-resource
    is_resource_request: bool
    api_prefix: str = ""  # "api" or "apis" for resource requests (and, as in RequestInfo, for /apis/GROUP/VERSION)
    api_group: str = ""  # "" for the core group
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    # Query parameters, in order, e.g. exec's repeated `command` values.
    query: tuple[tuple[str, str], ...] = field(default=())
    # RequestInfo.Parts: resource, name, subresource, then the rest of the path (e.g. the target path of
    # pods/proxy). For the legacy /proxy/ verb there is no subresource: the rest starts at index 2.
    parts: tuple[str, ...] = ()
    # The request carries `Connection: Upgrade` (WebSocket/SPDY). A GET with upgrade to pods/exec, attach or
    # portforward is verb `get` here, as in RequestInfo; kube-apiserver 1.35+ also requires `create` for it.
    upgrade: bool = False
    # RequestInfo.FieldSelector / LabelSelector: the raw first value, for list, watch and deletecollection.
    field_selector: str = ""
    label_selector: str = ""

    def query_values(self, key: str) -> tuple[str, ...]:
        """All values of one query parameter, in request order (e.g. exec's ``command``)."""
        return tuple(value for name, value in self.query if name == key)

    @property
    def resource_path(self) -> str:
        """``resource`` or ``resource/subresource``: the form RBAC rules and guardrails name."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def parse_request(method: str, raw_path: str, raw_query: str = "", *, upgrade: bool = False) -> RequestAttributes:
    """Derive the attributes kube-apiserver's authorizer sees for one request, or refuse it.

    ``raw_path`` is the path exactly as received (still percent-encoded), ``raw_query`` the query string
    without ``?``, ``upgrade`` whether the request carries ``Connection: Upgrade``. Raises
    :class:`NonCanonicalPath` for a path that could be read two ways (see the module docstring) and
    :class:`InvalidInput` for an unknown method, a malformed query string, or a request that kube-apiserver
    itself cannot resolve.
    """
    if method not in _NON_RESOURCE_VERBS:
        raise InvalidInput(
            f"HTTP method {method[:32]!r} is refused: kubejit forwards only GET, HEAD, POST, PUT, PATCH, "
            "DELETE and OPTIONS (methods are case-sensitive)"
        )
    segments, path = _split_path(raw_path)
    query = _parse_query(raw_query) if raw_query else ()
    non_resource_verb = _NON_RESOURCE_VERBS[method]
    if len(segments) < 3 or segments[0] not in _API_PREFIXES:
        return RequestAttributes(
            path=path, verb=non_resource_verb, is_resource_request=False, query=query, upgrade=upgrade
        )
    prefix = segments[0]
    group = ""
    rest = segments[1:]
    if prefix == "apis":
        if len(rest) < 3:  # /apis/GROUP/VERSION is discovery: non-resource, yet RequestInfo keeps the prefix
            return RequestAttributes(
                path=path,
                verb=non_resource_verb,
                is_resource_request=False,
                api_prefix=prefix,
                query=query,
                upgrade=upgrade,
            )
        group = rest[0]
        rest = rest[1:]
    version = rest[0]
    verb, verb_via_path, rest = _resource_verb(method, path, rest[1:])
    namespace, rest = _namespace_scope(path, rest)

    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 and verb != "proxy" else ""

    field_selector = label_selector = ""
    if not name:
        if verb == "get":
            verb, name = _list_or_watch(query)
        elif verb == "delete":
            verb = "deletecollection"
    if not verb_via_path and verb in _VERBS_WITH_SELECTORS and query:
        field_selector = _first(query, "fieldSelector") or ""
        label_selector = _first(query, "labelSelector") or ""

    return RequestAttributes(
        path=path,
        verb=verb,
        is_resource_request=True,
        api_prefix=prefix,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        query=query,
        parts=tuple(rest),
        upgrade=upgrade,
        field_selector=field_selector,
        label_selector=label_selector,
    )


def _resource_verb(method: str, path: str, rest: list[str]) -> tuple[str, bool, list[str]]:
    """The verb of a resource request (named in the path, like ``watch``, or derived from the method), whether
    the path named it, and the segments after it."""
    if rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:
            raise InvalidInput(
                f"request path {path!r} names the verb {rest[0]!r} but no resource; kube-apiserver cannot "
                "resolve it either (it answers 500): refused"
            )
        return rest[0], True, rest[1:]
    method_verb = _METHOD_VERBS.get(method)
    if method_verb is None:
        raise InvalidInput(
            f"{method} {path!r} is refused: kube-apiserver derives no verb for {method} on an API resource"
        )
    return method_verb, False, rest


def _namespace_scope(path: str, rest: list[str]) -> tuple[str, list[str]]:
    """The namespace a resource path is in ("" for cluster scope) and the segments from the resource on."""
    if rest[0] != "namespaces" or len(rest) < 2:
        return "", rest
    namespace = rest[1]
    if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        if rest[2] == "namespaces":
            raise NonCanonicalPath(
                f"request path {path!r} puts namespaces inside the namespace {namespace!r}; refused: "
                "kube-apiserver has no such route and reads it like the namespace object itself"
            )
        return namespace, rest[2:]
    return namespace, rest


def _refuse(raw_path: str, problem: str) -> NonCanonicalPath:
    shown = raw_path if len(raw_path) <= 200 else raw_path[:200] + "..."
    return NonCanonicalPath(
        f"request path {shown!r} {problem}; refused: kubejit forwards only canonical Kubernetes API paths "
        "and never normalizes them"
    )


def _split_path(raw_path: str) -> tuple[list[str], str]:
    """Validate the raw path and return its decoded segments and the decoded path (Go's ``URL.Path``)."""
    if len(raw_path) > MAX_PATH_LENGTH:
        raise _refuse(raw_path, f"is {len(raw_path)} characters long, more than {MAX_PATH_LENGTH}")
    if (
        raw_path[:1] != "/"
        or "//" in raw_path
        or _PATH_CHARS.fullmatch(raw_path) is None
        or ("%" in raw_path and _BAD_ESCAPE.search(raw_path) is not None)
    ):
        raise _refuse(raw_path, _raw_problem(raw_path))
    trailing_slash = raw_path.endswith("/")
    segments = raw_path[1:-1].split("/") if trailing_slash else raw_path[1:].split("/")
    if segments == [""]:
        segments = []
    path = raw_path
    if "%" in raw_path:
        _decode_segments(raw_path, segments)
        path = "/" + "/".join(segments) + ("/" if trailing_slash and segments else "")
    if "." in raw_path or "%" in raw_path:
        for segment in segments:
            if segment in (".", ".."):
                raise _refuse(raw_path, f"has a {segment!r} segment (plain or percent-encoded)")
    if segments and segments[0] not in _API_PREFIXES and segments[0].lower() in _API_PREFIXES:
        raise _refuse(
            raw_path,
            f"starts with {segments[0]!r}: kube-apiserver's API prefixes are lower-case and it would read this as "
            "a non-resource path",
        )
    return segments, path


def _decode_segments(raw_path: str, segments: list[str]) -> None:
    """Percent-decode ``segments`` in place, refusing any whose decoded form is not a plain segment."""
    for index, segment in enumerate(segments):
        if "%" in segment:
            decoded = unquote(segment, errors="replace")
            if _DECODED_SEGMENT.fullmatch(decoded) is None:
                raise _refuse(raw_path, _decoded_problem(decoded))
            segments[index] = decoded


def _raw_problem(raw_path: str) -> str:
    """Say what is wrong with a raw path that failed the first checks (the slow path: refusals only)."""
    if not raw_path.startswith("/"):
        return "does not start with '/'"
    if "//" in raw_path:
        return "has an empty segment ('//')"
    if _BAD_ESCAPE.search(raw_path):
        return "has an invalid percent-escape ('%' must be followed by two hex digits)"
    for char in raw_path:
        if char in "/%":
            continue
        if _DECODED_SEGMENT.fullmatch(char) is None:
            return _char_problem(char)
    return "is not a canonical path"  # pragma: no cover - every failure of the checks is named above


def _decoded_problem(decoded: str) -> str:
    for char in decoded:
        if _DECODED_SEGMENT.fullmatch(char) is None:
            if char == "/":
                return "percent-encodes '/' inside a segment (kube-apiserver decodes it and splits the segment there)"
            if char == "\ufffd":
                return "percent-encodes bytes that are not ASCII"
            return "percent-encodes " + _char_problem(char).removeprefix("contains ")
    return "is not a canonical path"  # pragma: no cover


def _char_problem(char: str) -> str:
    if char == "\\":
        return "contains a backslash"
    if char < " " or char == "\x7f":
        return f"contains the control character {char!r}"
    if not char.isascii():
        return f"contains the non-ASCII character {char!r}"
    return f"contains {char!r}, which is not allowed in a path segment"


def _parse_query(raw_query: str) -> tuple[tuple[str, str], ...]:
    """Decode the query string the way Go's ``URL.Query()`` does, refusing what Go would silently drop."""
    if _RAW_QUERY.fullmatch(raw_query) is None:
        bad = next(char for char in raw_query if _RAW_QUERY.fullmatch(char) is None)
        raise InvalidInput(
            f"query string contains {bad!r}; refused: Go drops ';'-separated pairs and no client sends raw "
            "spaces, '#', control or non-ASCII characters (percent-encode them)"
        )
    if "%" in raw_query and _BAD_ESCAPE.search(raw_query):
        raise InvalidInput(
            "query string has an invalid percent-escape; refused: kube-apiserver would silently drop that parameter"
        )
    pairs = []
    for pair in raw_query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            pairs.append((_unescape_query(key), _unescape_query(value)))
    return tuple(pairs)


def _unescape_query(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    try:
        decoded = unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"query parameter {text[:64]!r} does not decode to UTF-8; refused: kubejit cannot see what "
            "kube-apiserver would pass on"
        ) from None
    if "\x00" in decoded:
        raise InvalidInput(f"query parameter {text[:64]!r} decodes to a NUL character; refused")
    return decoded


def _first(query: tuple[tuple[str, str], ...], key: str) -> str | None:
    for name, value in query:
        if name == key:
            return value
    return None


def _list_or_watch(query: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """A GET without a name: ``list`` or ``watch``, and the name a ``metadata.name`` field selector pins.

    kube-apiserver decodes the query into ListOptions; if any option fails to decode, the field selector is
    ignored (the name stays empty) but ``watch`` still counts.
    """
    if not query:
        return "list", ""
    watch = _first(query, "watch")
    if watch is not None and not watch.isascii():
        raise InvalidInput(f"watch={watch[:32]!r} is refused: Go compares it with Unicode case folding")
    verb = "list" if watch is None or watch.lower() in ("false", "0") else "watch"
    selector = _first(query, "fieldSelector")
    if selector is None:
        return verb, ""
    name = _selector_name(selector)
    if not name or name in (".", "..") or "/" in name or "%" in name:
        return verb, ""
    for key in ("limit", "timeoutSeconds"):
        value = _first(query, key)
        if value is not None and not _is_int64(value):
            return verb, ""  # ListOptions fails to decode: kube-apiserver ignores the field selector
    if _first(query, "labelSelector"):
        raise InvalidInput(
            "a list or watch with both fieldSelector=metadata.name=... and a labelSelector is refused: "
            "kube-apiserver reads the name only if it accepts the label selector, which kubejit does not "
            "re-implement; send one of the two"
        )
    return verb, name


def _is_int64(text: str) -> bool:
    return _INT64.fullmatch(text) is not None and -(2**63) <= int(text) < 2**63


def _selector_name(selector: str) -> str | None:
    """The value a field selector requires for ``metadata.name`` (k8s.io/apimachinery fields semantics).

    Returns None when the selector does not pin the name or does not parse (then kube-apiserver ignores it).
    Terms are sorted before they are read, so the first ``metadata.name`` term in sorted order wins.
    """
    found: str | None = None
    for term in sorted(_split_terms(selector)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            return None
        field_name, operator, raw_value = split
        value = _unescape_selector_value(raw_value)
        if value is None:
            return None
        if found is None and operator != "!=" and field_name == "metadata.name":
            found = value
    return found


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not escaped with a backslash (the backslash stays in the term)."""
    if "\\" not in selector:
        return selector.split(",")
    terms = []
    start = 0
    escaped = False
    for index, char in enumerate(selector):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(selector[start:index])
            start = index + 1
    terms.append(selector[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Split at the first operator; at one position ``!=`` is tried before ``==`` before ``=``."""
    index = term.find("=")
    if index < 0:
        return None
    if index > 0 and term[index - 1] == "!":
        return term[: index - 1], "!=", term[index + 1 :]
    if term.startswith("==", index):
        return term[:index], "==", term[index + 2 :]
    return term[:index], "=", term[index + 1 :]


def _unescape_selector_value(raw: str) -> str | None:
    if "\\" not in raw and "," not in raw and "=" not in raw:
        return raw
    out = []
    escaped = False
    for char in raw:
        if escaped:
            if char not in "\\,=":
                return None
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)
