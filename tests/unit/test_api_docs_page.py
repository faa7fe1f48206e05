"""The broker's /docs works offline: a page rendered from the OpenAPI document, loading nothing from elsewhere."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from fastapi.testclient import TestClient

from kubejit.entrypoints.api.app import create_app
from kubejit.entrypoints.api.docs_page import docs_page

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker


def client() -> TestClient:
    return TestClient(create_app(cast("Broker", SimpleNamespace())))


def test_docs_lists_every_operation_and_loads_nothing_from_elsewhere() -> None:
    api = client()
    page = api.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    document = api.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert f"<span class=method>{method}</span><code>{path}</code> {operation['summary']}" in page.text
    assert "<script" not in page.text.lower()
    assert re.findall(r'(?:src|href)="(?!#|/openapi\.json")[^"]*"', page.text) == [], "only links within the page"
    assert 'href="#RequestOut"' in page.text
    assert '<h3 id="RequestOut">RequestOut</h3>' in page.text


def test_fastapis_cdn_pages_are_off_and_docs_is_not_an_api_operation() -> None:
    api = client()
    assert api.get("/redoc").status_code == 404
    assert api.get("/docs/oauth2-redirect").status_code == 404
    assert "/docs" not in api.get("/openapi.json").json()["paths"]


def test_what_the_document_says_is_escaped() -> None:
    hostile = {
        "info": {"title": "<script>x</script>", "version": "1"},
        "paths": {"/a": {"get": {"summary": '"><img src=x onerror=alert(1)>', "responses": {}}}},
        "components": {"schemas": {'<b onclick="x">': {"properties": {"<i>": {"type": "string"}}}}},
    }
    page = docs_page(hostile)
    assert "<script>x" not in page
    assert "<img" not in page
    assert "<b onclick" not in page
    assert "<i>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
