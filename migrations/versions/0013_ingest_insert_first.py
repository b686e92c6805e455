"""Ingest inserts a batch of new keys without ON CONFLICT (one key lookup a row, no conflict
check), and goes back to ON CONFLICT when a key is refused (issue 19).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0013_ingest_insert_first/accept_batch.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0013_ingest_insert_first/downgrade.sql")
