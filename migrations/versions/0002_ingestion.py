"""Ingestion: staged COPY batches accepted idempotently, ground truth kept apart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0002_ingestion/ground_truth.sql",
        "migrations/0002_ingestion/accept_batch.sql",
        "migrations/0002_ingestion/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0002_ingestion/downgrade.sql")
