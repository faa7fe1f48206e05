"""The broker's storage adapter: requests, the audit trail and idempotency keys in SQLite or PostgreSQL.

:class:`SqlStore` implements :class:`kubejit.ports.UnitOfWorkFactory`; :mod:`kubejit.bootstrap` creates it from
the configured database URL. The Alembic migrations that create and evolve its tables ship inside this package
(``migrations/``) and run through :meth:`SqlStore.migrate`, with no ``alembic.ini``.
"""

from kubejit.adapters.store.sql import SqlStore, SqlUnitOfWork

__all__ = ["SqlStore", "SqlUnitOfWork"]
