"""Finds or prepares the Keycloak distribution the test rig runs, and the Java it runs on.

org.keycloak:keycloak-quarkus-dist (a pinned version) comes from Maven Central as a ``.tar.gz``. The download is
checked against the digest file Maven serves beside it (``.sha512``, else ``.sha1``; with neither, or a mismatch,
nothing is installed), unpacked (tarfile's ``data`` filter: no absolute paths, links or devices that leave the
tree), and pre-built once (``kc.sh build --db=dev-mem``: Quarkus' augmentation, ~20 s), all in a temporary
directory that is renamed into place at the end, under a lock: ``$KUBEJIT_CACHE_DIR/keycloak-<version>``
(default ``~/.cache/kubejit``) is either absent or complete, and a warm start downloads and builds nothing.
Each run then starts it ``--optimized`` with its own home directory (see :mod:`kubejit.devcluster.keycloak`),
so the cached tree is only read.

Keycloak 26 needs Java 21 or newer: ``$KUBEJIT_JAVA_HOME``, then ``$JAVA_HOME``, then the machine's Temurin 25
(``/usr/lib/jvm/temurin-25-jdk-amd64``), then any other JDK under ``/usr/lib/jvm``, newest first.

Called by :class:`kubejit.devcluster.keycloak.Keycloak` and ``kubejit devcluster binaries``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from kubejit.devcluster.binaries import cache_root
from kubejit.domain.errors import Unavailable

KEYCLOAK_VERSION = "26.7.3"
MAVEN_DIRECTORY = "https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist"
# Build-time options baked into the cached tree; every run starts `--optimized` on them.
BUILD_OPTIONS = ("--db=dev-mem",)
MINIMUM_JAVA = 21
PREFERRED_JAVA_HOME = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
_READY_MARKER = ".kubejit-ready"
_DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, read=120.0)
_BUILD_TIMEOUT = 600.0


@dataclass(frozen=True)
class KeycloakDist:
    """A ready Keycloak tree and the Java home to run it with."""

    home: Path
    java_home: Path
    version: str = KEYCLOAK_VERSION

    @property
    def java(self) -> Path:
        return self.java_home / "bin" / "java"


def tarball_url(version: str = KEYCLOAK_VERSION) -> str:
    return f"{MAVEN_DIRECTORY}/{version}/keycloak-quarkus-dist-{version}.tar.gz"


def cached_home(version: str = KEYCLOAK_VERSION) -> Path:
    return cache_root() / f"keycloak-{version}"


# ---- Java -------------------------------------------------------------------------------------------------------


def java_major_version(java: Path) -> int | None:
    """The feature release of ``java`` (25 for "25.0.3"), or None when it does not run or says something else."""
    try:
        result = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_home_candidates(environ: dict[str, str] | None = None, jvm_dir: Path = Path("/usr/lib/jvm")) -> list[Path]:
    env = os.environ if environ is None else environ
    named = [Path(env[name]) for name in ("KUBEJIT_JAVA_HOME", "JAVA_HOME") if env.get(name)]
    others = sorted(
        (path for path in (jvm_dir.iterdir() if jvm_dir.is_dir() else ()) if path != PREFERRED_JAVA_HOME),
        key=lambda path: [int(number) for number in re.findall(r"\d+", path.name)],
        reverse=True,
    )
    return [*named, PREFERRED_JAVA_HOME, *others]


def find_java_home(candidates: Sequence[Path] | None = None) -> Path:
    """The first candidate whose ``bin/java`` is Java >= 21; raises :class:`Unavailable` naming what was tried."""
    tried: list[str] = []
    for home in java_home_candidates() if candidates is None else candidates:
        java = home / "bin" / "java"
        if not os.access(java, os.X_OK):
            continue
        major = java_major_version(java)
        if major is not None and major >= MINIMUM_JAVA:
            return home
        tried.append(f"{home} (Java {major if major is not None else '?'})")
    found = "; found only " + ", ".join(tried) if tried else ""
    raise Unavailable(
        f"Keycloak {KEYCLOAK_VERSION} needs Java >= {MINIMUM_JAVA} and none was found{found}: install a JDK "
        f"(e.g. Temurin 25 into {PREFERRED_JAVA_HOME}) or set KUBEJIT_JAVA_HOME to one"
    )


def java_argv(home: Path, java: Path, *args: str) -> list[str]:
    """``java ... QuarkusEntryPoint ARGS`` as Keycloak's ``bin/kc.sh`` (26.7) builds it, without the shell.

    Running Java directly keeps it our own child (it dies with the test run, see ``process.py``) and gives SIGTERM
    to Keycloak itself. ``home`` becomes ``kc.home.dir``: where Keycloak looks for ``lib/``, ``conf/``, ``data/``.
    """
    return [
        str(java),
        f"-Dkc.home.dir={home}",
        f"-Djboss.server.config.dir={home / 'conf'}",
        "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
        "-Dpicocli.disable.closures=true",
        "-Dquarkus-log-max-startup-records=10000",
        "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
        "io.quarkus.bootstrap.forkjoin.QuarkusForkJoinWorkerThreadFactory",
        "-XX:MetaspaceSize=96M",
        "-XX:MaxMetaspaceSize=256m",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",  # C1 only: a test IdP lives minutes, and start-up time is what counts here
        "-Xms64m",
        "-Xmx512m",
        "-Dfile.encoding=UTF-8",
        "-Dstdout.encoding=UTF-8",
        "-Dstderr.encoding=UTF-8",
        "-Djava.security.egd=file:/dev/urandom",
        "-Duser.language=en",
        "-Duser.country=US",
        "--add-opens=java.base/java.util=ALL-UNNAMED",
        "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
        "--add-opens=java.base/java.security=ALL-UNNAMED",
        "--add-opens=java.base/java.lang=ALL-UNNAMED",
        "--enable-native-access=ALL-UNNAMED",
        "-cp",
        str(home / "lib" / "quarkus-run.jar"),
        "io.quarkus.bootstrap.runner.QuarkusEntryPoint",
        *args,
    ]


# ---- the distribution -------------------------------------------------------------------------------------------


def ensure_keycloak(*, log: Callable[[str], None], version: str = KEYCLOAK_VERSION) -> KeycloakDist:
    """The cached, pre-built Keycloak tree, downloading and building it first if needed (safe concurrently)."""
    java_home = find_java_home()
    target = cached_home(version)
    if _ready(target):
        return KeycloakDist(target, java_home, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".keycloak-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ready(target):
            return KeycloakDist(target, java_home, version)
        if target.exists():  # an older layout or a tree someone edited: rebuild rather than trust it
            shutil.rmtree(target)
        workdir = Path(tempfile.mkdtemp(prefix=f".keycloak-{version}-", dir=target.parent))
        try:
            log(f"downloading Keycloak {version} from Maven Central (first time only)")
            tarball = download_verified(tarball_url(version), workdir / "dist.tar.gz")
            tree = unpack(tarball, workdir / "tree", top=f"keycloak-{version}")
            tarball.unlink()
            log(f"building Keycloak {version} for the test rig (first time only, ~20 s)")
            build(tree, java_home / "bin" / "java", workdir / "build.log")
            (tree / _READY_MARKER).write_text(" ".join(BUILD_OPTIONS) + "\n")
            tree.rename(target)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return KeycloakDist(target, java_home, version)


def _ready(home: Path) -> bool:
    marker = home / _READY_MARKER
    return marker.is_file() and marker.read_text().split() == list(BUILD_OPTIONS)


def download_verified(url: str, destination: Path) -> Path:
    """Stream ``url`` to ``destination`` and check it against Maven's ``.sha512`` (else ``.sha1``) file."""
    digests = {"sha512": hashlib.sha512(), "sha1": hashlib.sha1()}  # noqa: S324 - sha1 only as Maven's fallback
    try:
        with httpx.stream("GET", url, timeout=_DOWNLOAD_TIMEOUT, follow_redirects=True) as response:
            response.raise_for_status()
            with destination.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
        expected = _published_digest(url)
    except httpx.HTTPError as error:
        raise Unavailable(f"cannot download {url}: {error}") from error
    if expected is None:
        raise Unavailable(f"{url} has no .sha512 or .sha1 file beside it, so the download cannot be checked")
    algorithm, value = expected
    actual = digests[algorithm].hexdigest()
    if actual != value:
        raise Unavailable(f"{url} does not match its .{algorithm} file (expected {value}, got {actual})")
    return destination


def _published_digest(url: str) -> tuple[str, str] | None:
    for algorithm in ("sha512", "sha1"):
        response = httpx.get(f"{url}.{algorithm}", timeout=_DOWNLOAD_TIMEOUT, follow_redirects=True)
        if response.status_code == 404:
            continue
        response.raise_for_status()
        words = response.text.split()
        if words and re.fullmatch(r"[0-9a-f]+", words[0].lower()):
            return algorithm, words[0].lower()
    return None


def unpack(tarball: Path, destination: Path, *, top: str) -> Path:
    """Extract the archive's single top directory ``top`` as ``destination`` (tarfile's ``data`` filter)."""
    staging = destination.with_name(destination.name + ".unpack")
    with tarfile.open(tarball, "r:gz") as archive:
        strays = [m.name for m in archive.getmembers() if m.name != top and not m.name.startswith(f"{top}/")]
        if strays:
            raise Unavailable(f"{tarball} holds entries outside {top}/ (e.g. {strays[0]!r}); not a Keycloak archive")
        archive.extractall(staging, filter="data")
    (staging / top).rename(destination)
    staging.rmdir()
    return destination


def build(tree: Path, java: Path, log_path: Path) -> None:
    """``kc.sh build`` with :data:`BUILD_OPTIONS`, so that each start can be ``--optimized``."""
    with log_path.open("wb") as log:
        result = subprocess.run(
            java_argv(tree, java, "build", *BUILD_OPTIONS),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=_BUILD_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise Unavailable(f"building Keycloak in {tree} failed (exit {result.returncode}):\n{tail}")
