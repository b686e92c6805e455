"""Scoring: the queue of unscored transactions and the alerts table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0005_scoring/pending.sql",
        "migrations/0005_scoring/alerts.sql",
        "migrations/0005_scoring/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0005_scoring/downgrade.sql")
