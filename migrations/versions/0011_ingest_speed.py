"""Ingest costs less per row: one card-number check per staged row, conflicts looked up
only for the rows a batch did not store (issue 19).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0011_ingest_speed/accept_batch.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0011_ingest_speed/downgrade.sql")
