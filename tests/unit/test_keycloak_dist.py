"""The Keycloak download is checked before anything is installed; the archive must stay in its directory;
Java must be new enough; the realm's client is a native app's (PKCE, loopback redirects, no password grant)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubejit.devcluster.keycloak_dist import download_verified, find_java_home, unpack
from kubejit.devcluster.keycloak_realm import TokenLifetimes, realm_document
from kubejit.domain.errors import Unavailable

PAYLOAD = b"pretend this is keycloak" * 1000


@pytest.fixture
def maven() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A tiny HTTP server standing in for Maven Central: path -> body (404 for anything else)."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()
    server.server_close()


def test_a_download_matching_its_sha512_is_kept(maven: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = maven
    files["/kc.tar.gz"] = PAYLOAD
    files["/kc.tar.gz.sha512"] = hashlib.sha512(PAYLOAD).hexdigest().encode() + b"  kc.tar.gz\n"
    assert download_verified(f"{base}/kc.tar.gz", tmp_path / "kc").read_bytes() == PAYLOAD


def test_sha1_is_the_fallback(maven: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = maven
    files["/kc.tar.gz"] = PAYLOAD
    files["/kc.tar.gz.sha1"] = hashlib.sha1(PAYLOAD).hexdigest().encode()  # noqa: S324
    assert download_verified(f"{base}/kc.tar.gz", tmp_path / "kc").read_bytes() == PAYLOAD


def test_a_download_that_does_not_match_is_refused(maven: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = maven
    files["/kc.tar.gz"] = PAYLOAD
    files["/kc.tar.gz.sha512"] = hashlib.sha512(b"something else").hexdigest().encode()
    with pytest.raises(Unavailable, match=r"does not match its \.sha512 file"):
        download_verified(f"{base}/kc.tar.gz", tmp_path / "kc")


def test_a_download_without_a_digest_file_is_refused(maven: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = maven
    files["/kc.tar.gz"] = PAYLOAD
    with pytest.raises(Unavailable, match=r"no \.sha512 or \.sha1 file"):
        download_verified(f"{base}/kc.tar.gz", tmp_path / "kc")


def _tarball(path: Path, names: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 2
            archive.addfile(info, io.BytesIO(b"ok"))
    return path


def test_unpack_takes_the_single_top_directory(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "a.tar.gz", ["keycloak-1/bin/kc.sh", "keycloak-1/version.txt"])
    tree = unpack(tarball, tmp_path / "tree", top="keycloak-1")
    assert (tree / "bin" / "kc.sh").read_text() == "ok"


@pytest.mark.parametrize("stray", ["elsewhere/x", "../escape", "keycloak-1x/y"])
def test_unpack_refuses_entries_outside_the_top_directory(tmp_path: Path, stray: str) -> None:
    tarball = _tarball(tmp_path / "a.tar.gz", ["keycloak-1/version.txt", stray])
    with pytest.raises(Unavailable, match="entries outside keycloak-1/"):
        unpack(tarball, tmp_path / "tree", top="keycloak-1")
    assert not (tmp_path / "tree").exists()


def _fake_java(home: Path, version: str) -> Path:
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2026-01-01' >&2\n")
    java.chmod(0o755)
    return home


def test_java_older_than_21_is_passed_over_and_named_when_nothing_fits(tmp_path: Path) -> None:
    old = _fake_java(tmp_path / "jdk17", "17.0.9")
    new = _fake_java(tmp_path / "jdk25", "25.0.3")
    assert find_java_home([old, tmp_path / "missing", new]) == new
    with pytest.raises(Unavailable, match=r"needs Java >= 21 .*jdk17 \(Java 17\)"):
        find_java_home([old])


def test_the_realms_client_is_a_native_apps() -> None:
    realm = realm_document(TokenLifetimes(access_token=20))
    (client,) = realm["clients"]
    assert client["publicClient"] is True
    assert client["directAccessGrantsEnabled"] is False
    assert client["implicitFlowEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["attributes"]["oauth2.device.authorization.grant.enabled"] == "true"
    assert client["redirectUris"] == ["http://127.0.0.1/*", "http://localhost/*"]
    assert realm["accessTokenLifespan"] == 20
    groups_scope = next(scope for scope in realm["clientScopes"] if scope["name"] == "groups")
    (mapper,) = groups_scope["protocolMappers"]
    assert mapper["config"]["full.path"] == "false"
    assert mapper["config"]["id.token.claim"] == "true"
    assert all(not credential["temporary"] for user in realm["users"] for credential in user["credentials"])
