"""The console's own stylesheet and script, ``/console/static/{name}``: a fixed set of files read at import.

No third-party JavaScript: the pages work as plain HTML forms, and ``console.js`` (a few lines, no build step)
only adds checking the request form as you type. Pages name them with a content hash in the URL
(``asset_url``), so a browser never mixes an old script with a new page.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, Response

from kubejit.entrypoints.console._web import PREFIX, ConsoleProblem, ConsoleRoute

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
_TYPES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
_FILES = {name: (Path(__file__).parent / "static" / name).read_bytes() for name in _TYPES}
VERSIONS = {name: hashlib.sha256(content).hexdigest()[:12] for name, content in _FILES.items()}


def asset_url(name: str) -> str:
    return f"{PREFIX}/static/{name}?v={VERSIONS[name]}"


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    if name not in _FILES:
        raise ConsoleProblem(404, "Not found", f"the console has no file {name[:60]!r}")
    return Response(_FILES[name], media_type=_TYPES[name])
