"""accept_batch searches the text fields once for what either text check can refuse (issue 19).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0022_text_checks_once/accept_batch.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0022_text_checks_once/downgrade.sql")
