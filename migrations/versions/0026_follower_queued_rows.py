"""The feature follower goes on past rows already queued or given features (issue 19).

Rows stored with the feature trigger disabled (a bulk load) are queued for scoring at
once, and a backfill may give them features, before a follower step reaches them: the
step keeps what is there instead of failing on a unique violation (which stopped every
later step and the API's requests), and counts the rows it covered.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0026_follower_queued_rows/follower.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0026_follower_queued_rows/downgrade.sql")
