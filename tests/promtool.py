"""promtool, Prometheus's rule checker, for the alert rules test: Debian's ``prometheus`` package, fetched once with
``apt-get download``, checked, and only its ``promtool`` kept.

Building promtool from the Go module proxy compiles most of Prometheus (over 25 minutes on a 2-CPU machine), so the
rules test uses the Debian build. ``make binaries`` (and so ``make test``) runs ``python -m tests.promtool``. The
package is pinned (version and the .deb's sha256) and ``promtool`` cached in ``$KUBEJIT_CACHE_DIR`` (default
``~/.cache/kubejit``) as ``promtool-<version>/promtool``. A machine without apt, or a mirror that no longer serves
the pinned version, gets no promtool (the test then skips, saying why); a package that does not match its sha256 is
an error. ``KUBEJIT_PROMTOOL`` names another promtool instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kubejit.devcluster.binaries import cache_root

PACKAGE = "prometheus"
VERSION = "2.42.0+ds-5+deb12u1"
DEB_SHA256 = "81d59a24fce84f7fbe97a45a4f2914b6a5881b5cd1db2a6a0e129e515e1a5f55"  # the amd64 .deb


class NoPromtool(Exception):
    """No promtool can be had on this machine; the message says why."""


def promtool_path() -> Path:
    return cache_root() / f"promtool-{VERSION}" / "promtool"


def prepare(*, fetch: bool = True) -> Path:
    """The promtool to use: ``$KUBEJIT_PROMTOOL``, the cached one, or (``fetch``) one taken from the pinned Debian
    package."""
    configured = os.environ.get("KUBEJIT_PROMTOOL")
    if configured:
        if not os.access(configured, os.X_OK):
            raise NoPromtool(f"KUBEJIT_PROMTOOL={configured} is not an executable file")
        return Path(configured)
    target = promtool_path()
    if target.exists():
        return target
    if not fetch:
        raise NoPromtool(f"none cached at {target}: `python -m tests.promtool` (make binaries) fetches it")
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise NoPromtool("no apt-get/dpkg-deb on this machine to fetch Debian's promtool: set KUBEJIT_PROMTOOL")
    with tempfile.TemporaryDirectory() as scratch:
        fetched = subprocess.run(
            ["apt-get", "download", f"{PACKAGE}={VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=scratch,
        )
        debs = sorted(Path(scratch).glob(f"{PACKAGE}_*.deb"))
        if fetched.returncode != 0 or not debs:
            raise NoPromtool(f"apt-get download {PACKAGE}={VERSION} failed: {fetched.stderr.strip()[-500:]}")
        digest = hashlib.sha256(debs[0].read_bytes()).hexdigest()
        if digest != DEB_SHA256:
            raise RuntimeError(f"{debs[0].name} has sha256 {digest}, not the pinned {DEB_SHA256}")
        unpacked = Path(scratch) / "unpacked"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True, timeout=300)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.partial")
        shutil.copyfile(unpacked / "usr" / "bin" / "promtool", partial)
        partial.chmod(0o755)
        partial.replace(target)
    return target


if __name__ == "__main__":
    try:
        print(prepare())
    except NoPromtool as why:
        print(f"promtool not prepared ({why}): the alert rules' promtool test will skip", file=sys.stderr)
