"""Labels: the review queue, analysts' trans_num lookup, retraining decisions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from scorer.migrate import apply_sql_files

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "labels/review_queue.sql", "labels/retraining.sql",
                    "labels/roles.sql")


def downgrade() -> None:
    apply_sql_files(op, "labels/downgrade_0006.sql")
