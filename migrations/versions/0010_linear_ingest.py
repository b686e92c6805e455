"""Ingest plan stays linear in the batch after the staging table is analysed empty.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0010_linear_ingest/accept_batch.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0010_linear_ingest/downgrade.sql")
