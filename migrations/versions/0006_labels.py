"""Labels: the review queue, analysts' trans_num lookup, retraining decisions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0006_labels/review_queue.sql",
        "migrations/0006_labels/retraining.sql",
        "migrations/0006_labels/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0006_labels/downgrade.sql")
