"""Scoring: the queue of unscored transactions and the alerts table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from scorer.migrate import apply_sql_files

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "scoring/pending.sql", "scoring/alerts.sql", "scoring/roles.sql")


def downgrade() -> None:
    apply_sql_files(op, "scoring/downgrade_0005.sql")
