"""Fixtures for integration tests that need a real PostgreSQL: one server per session, a fresh database per test.

CI starts the server itself (see ``.ci/run``) and passes its URL in ``KUBEJIT_TEST_DATABASE_URL``. Anywhere else
the ``postgres_url`` fixture starts a throwaway server from Debian's PostgreSQL binaries, on 127.0.0.1 only, with
fsync off and trust authentication, and stops it when the session ends. Without those binaries the tests that
need PostgreSQL fail with the command that installs them: they are never skipped in silence.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

_INSTALL_HINT = (
    "the PostgreSQL tests need PostgreSQL's server binaries: install Debian's package "
    "(`apt-get install postgresql`), or point KUBEJIT_TEST_DATABASE_URL at a server "
    "(postgresql://USER@127.0.0.1:PORT/DB) where USER may create databases"
)


def _postgres_bin() -> Path:
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    if not found:
        pytest.fail(_INSTALL_HINT, pytrace=False)
    return max(found, key=version)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        server_log = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
        pytest.fail(
            f"could not {what} ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{server_log}", pytrace=False
        )


def _throwaway_server() -> Iterator[str]:
    """initdb + pg_ctl start in a temporary directory; yields the URL of its ``postgres`` database."""
    bin_dir = _postgres_bin()
    as_postgres: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="kubejit-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir)
            pytest.fail(f"running as root, but there is no `postgres` user to run the server as; {_INSTALL_HINT}")
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = workdir / "data"
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={workdir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        _run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "kubejit", "--auth=trust", "-E", "UTF8"],
            "initialize a PostgreSQL data directory",
        )
        _run(
            [*pg_ctl, "-l", str(workdir / "server.log"), "-w", "-t", "60", "-o", options, "start"],
            "start PostgreSQL",
            log=workdir / "server.log",
        )
        started = True
        yield URL.create(
            "postgresql+psycopg", username="kubejit", host="127.0.0.1", port=port, database="postgres"
        ).render_as_string(hide_password=False)
    finally:
        if started:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session: ``KUBEJIT_TEST_DATABASE_URL`` if set, else a throwaway one."""
    configured = os.environ.get("KUBEJIT_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    yield from _throwaway_server()


def _maintenance_connection(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database, autocommit=True
    )


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL (psycopg driver) of a new, empty database on the session's server; dropped after the test."""
    server = make_url(postgres_url)
    name = f"test_{uuid.uuid4().hex[:16]}"
    with _maintenance_connection(server) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with _maintenance_connection(server) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
