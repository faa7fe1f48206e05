"""Fixtures for integration tests that need a real PostgreSQL: one server per session, a fresh database per test.

CI starts the server itself (see ``.ci/run``) and passes its URL in ``KUBEJIT_TEST_DATABASE_URL``. Anywhere else
the ``postgres_url`` fixture starts a throwaway server from Debian's PostgreSQL binaries, on 127.0.0.1 only, with
fsync off and trust authentication, and stops it when the session ends. Without those binaries the tests that
need PostgreSQL fail with the command that installs them: they are never skipped in silence.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from kubejit.devcluster.postgres import throwaway_postgres
from kubejit.domain.errors import Unavailable


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session: ``KUBEJIT_TEST_DATABASE_URL`` if set, else a throwaway one."""
    configured = os.environ.get("KUBEJIT_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    try:
        with throwaway_postgres() as url:
            yield url
    except Unavailable as error:
        pytest.fail(str(error), pytrace=False)


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
