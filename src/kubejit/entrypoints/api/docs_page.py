"""The broker's API reference at ``/docs``: one HTML page rendered here from the OpenAPI document, offline.

FastAPI's own ``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from a CDN, so on a machine
without Internet access (an air-gapped cluster, the demo on a train) they show a blank page, and the broker would
ask its users' browsers to run third-party code. This page needs nothing but the broker: every operation with its
method, path, summary, description, parameters, request body and answers, linking to the schemas, and a link
to ``/openapi.json`` for tools. No script at all; every value goes through :func:`html.escape`. ``create_app``
mounts it (outside the OpenAPI document) and turns FastAPI's CDN pages off.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; } code, pre { background: #f5f5f5; padding: .1rem .3rem; }
.op { margin: 1rem 0; padding: .6rem .8rem; border-left: 4px solid #88a; background: #fafaff; }
.method { font-weight: bold; text-transform: uppercase; margin-right: .5rem; } table { border-collapse: collapse; }
td, th { text-align: left; padding: .2rem .6rem .2rem 0; vertical-align: top; } .note { color: #666; }
"""
_METHODS = ("get", "post", "put", "patch", "delete")


def docs_page(openapi: dict[str, Any]) -> str:
    """The whole page for ``openapi`` (``app.openapi()``)."""
    info = openapi.get("info", {})
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        '<p class=note>The machine-readable document: <a href="/openapi.json">/openapi.json</a>. Every route '
        "but health, metrics and the login options needs <code>Authorization: Bearer &lt;ID token&gt;</code>.</p>",
        "<h2>Operations</h2>",
    ]
    for path, operations in sorted(openapi.get("paths", {}).items()):
        for method in _METHODS:
            if method in operations:
                body.append(_operation(method, path, operations[method]))
    schemas = openapi.get("components", {}).get("schemas", {})
    if schemas:
        body.append("<h2>Schemas</h2>")
        body.extend(_schema(name, schema) for name, schema in sorted(schemas.items()))
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    parts = [
        "<div class=op>",
        f"<div><span class=method>{escape(method)}</span><code>{escape(path)}</code> "
        f"{escape(operation.get('summary', ''))}</div>",
    ]
    if operation.get("description"):
        parts.append(f"<p>{escape(operation['description'])}</p>")
    parameters = operation.get("parameters", [])
    if parameters:
        rows = "".join(
            f"<tr><td><code>{escape(p.get('name', ''))}</code></td><td>{escape(p.get('in', ''))}</td>"
            f"<td>{_type_of(p.get('schema', {}))}</td><td>{'required' if p.get('required') else ''}</td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>"
            for p in parameters
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th></th><th></th></tr>{rows}</table>")
    if operation.get("requestBody"):
        parts.append(f"<div>body:{_body_types(operation['requestBody'])}</div>")
    answers = ", ".join(
        f"{escape(str(status))} {escape(answer.get('description', ''))}{_body_types(answer)}"
        for status, answer in sorted(operation.get("responses", {}).items())
    )
    parts.append(f"<div class=note>answers: {answers}</div></div>")
    return "\n".join(parts)


def _body_types(body: dict[str, Any]) -> str:
    """`` (Type)`` for a request body's or an answer's content, '' when it has none."""
    types = [_type_of(content.get("schema", {})) for content in body.get("content", {}).values()]
    types = [shown for shown in types if shown != "any"]
    return f" ({', '.join(types)})" if types else ""


def _schema(name: str, schema: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(field)}</code></td><td>{_type_of(spec)}</td>"
        f"<td>{'required' if field in schema.get('required', []) else ''}</td></tr>"
        for field, spec in schema.get("properties", {}).items()
    )
    table = f"<table>{rows}</table>" if rows else ""
    return f'<h3 id="{escape(name)}">{escape(name)}</h3>\n<p>{escape(schema.get("description", ""))}</p>{table}'


def _type_of(schema: dict[str, Any]) -> str:
    """A schema's type in a few words, with a link when it names another schema."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f'<a href="#{escape(name)}">{escape(name)}</a>'
    if "anyOf" in schema:
        return " or ".join(_type_of(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    return escape(str(schema.get("type", "any")))
