"""Ingestion: staged COPY batches accepted idempotently, ground truth kept apart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from scorer.migrate import apply_sql_files

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "truth/ground_truth.sql",
        "ingest/accept_batch.sql",
        "ingest/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "ingest/downgrade_0002.sql")
