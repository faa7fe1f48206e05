"""An index for "the id starts with": a unique start of a request id (``kubejit approve req-fdf5``) is looked up
through it, not by reading the whole requests table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

On PostgreSQL the primary key's index follows the database's collation, which a byte-order range cannot use unless
the collation is C; ``varchar_pattern_ops`` orders by bytes whatever the collation. On SQLite the primary key's
index already serves the range (BINARY collation): the new index is the same, kept so that the tables are alike.
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_requests_id_pattern", "requests", ["id"], postgresql_ops={"id": "varchar_pattern_ops"})


def downgrade() -> None:
    op.drop_index("ix_requests_id_pattern", table_name="requests")
