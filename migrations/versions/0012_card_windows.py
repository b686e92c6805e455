"""Features from card windows: state the ingest trigger keeps, instead of rescanning history.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0012_card_windows/card_windows.sql",
        "migrations/0012_card_windows/rebuild_card_windows.sql",
        "migrations/0012_card_windows/compute_batch.sql",
        "migrations/0012_card_windows/ingest_trigger.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0012_card_windows/downgrade.sql")
