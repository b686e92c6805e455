"""A follower step covers the next max_rows stored rows, not ids (issue 19).

Ids have gaps (a batch whose transaction rolled back used its ids and stored nothing); a
step of max_rows ids over a gap that wide computed nothing with rows waiting beyond it,
so `pgfraud features follow --once` stopped there and the follower's loop slept a turn
per empty step. A step now covers the next max_rows rows, or all when fewer wait.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0027_follower_steps_rows/follower.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0027_follower_steps_rows/downgrade.sql")
