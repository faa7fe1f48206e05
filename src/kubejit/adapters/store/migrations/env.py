"""Alembic's environment for kubejit's schema: how the revisions in ``versions/`` reach a database.

:meth:`kubejit.adapters.store.SqlStore.migrate` runs Alembic with an already open connection (inside its
transaction, with SQLite's pragmas and PostgreSQL's migration lock in place), passed in
``config.attributes["connection"]``. A developer writing a new revision can also point Alembic at a scratch
database with ``sqlalchemy.url`` (e.g. ``alembic -c dev.ini revision --autogenerate``), or print the SQL for a
DBA with ``--sql``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from kubejit.adapters.store.schema import Base

config = context.config
VERSION_TABLE = str(config.attributes.get("version_table", "kubejit_alembic_version"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():  # joins the caller's transaction when there is one
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database to migrate: use SqlStore(url).migrate(), or set sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.begin() as opened:
            _run(opened)
    finally:
        engine.dispose()


main()
