"""axe-core, the accessibility engine, for the browser tests: fetched once from the npm registry, checked, cached.

``make binaries`` (and so ``make test``) runs ``python -m tests.axe`` to prepare it; :func:`axe_script` prepares it
too when a test needs it first. The package is pinned (version and the registry's sha512 integrity) and cached in
``$KUBEJIT_CACHE_DIR`` (default ``~/.cache/kubejit``) as ``axe-core-<version>/axe.min.js``. :func:`serious_violations`
runs it in a Playwright page and answers the serious and critical violations, described for a failure message.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from kubejit.devcluster.binaries import cache_root

AXE_VERSION = "4.14.1"
AXE_INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
SERIOUS = ("serious", "critical")


def axe_path() -> Path:
    return cache_root() / f"axe-core-{AXE_VERSION}" / "axe.min.js"


def prepare() -> Path:
    """The cached axe.min.js, fetched with ``npm pack`` and checked against the pinned integrity if missing."""
    target = axe_path()
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run(
            ["npm", "pack", f"axe-core@{AXE_VERSION}", "--json", "--pack-destination", scratch],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=scratch,
        )
        if packed.returncode != 0:
            raise RuntimeError(f"npm pack axe-core@{AXE_VERSION} failed:\n{packed.stderr[-2000:]}")
        tarball = Path(scratch) / json.loads(packed.stdout)[0]["filename"]
        content = tarball.read_bytes()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()
    if integrity != AXE_INTEGRITY:
        raise RuntimeError(f"axe-core {AXE_VERSION} from npm has integrity {integrity}, not the pinned {AXE_INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise RuntimeError(f"axe-core {AXE_VERSION}'s package has no axe.min.js")
        script = member.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(script)
    partial.replace(target)
    return target


def axe_script() -> str:
    return prepare().read_text()


def serious_violations(page: Page) -> list[str]:
    """Run axe-core (WCAG 2.x A and AA rules) on ``page``: its serious and critical violations, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated over the DevTools protocol, which the console's CSP (no inline scripts) does not apply to
        page.evaluate(axe_script())
    results: dict[str, Any] = page.evaluate(
        """async () => await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"""
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in results["violations"]
        if v["impact"] in SERIOUS
    ]


if __name__ == "__main__":
    print(f"axe-core {AXE_VERSION}: {prepare()}", file=sys.stderr)
