"""Revoked grants whose bindings are still to be removed: a flag, so that the keeper finds every one of them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Before, the keeper looked for them among the 100 most recently created revoked requests, so a revoke made on
a standby replica could be hidden by newer ones. ``unbind_pending`` is set when a grant that had started is
revoked and cleared when the keeper has confirmed its bindings gone; the index serves the keeper's paged query.
Existing revoked grants that had started are marked, so the keeper confirms each once after the upgrade.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_requests = sa.table(
    "requests",
    sa.column("id", sa.String(128)),
    sa.column("state", sa.String(16)),
    sa.column("document", sa.Text()),
    sa.column("unbind_pending", sa.Boolean()),
)


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("unbind_pending", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_requests_unbind_pending_id", "requests", ["unbind_pending", "id"])
    connection = op.get_bind()
    revoked = connection.execute(sa.select(_requests.c.id, _requests.c.document).where(_requests.c.state == "revoked"))
    started = [row.id for row in revoked if json.loads(row.document).get("starts_at")]
    for start in range(0, len(started), 500):
        connection.execute(
            sa.update(_requests).where(_requests.c.id.in_(started[start : start + 500])).values(unbind_pending=True)
        )


def downgrade() -> None:
    op.drop_index("ix_requests_unbind_pending_id", "requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("unbind_pending")
