"""Drop ingest.transactions' merchant index, which no statement reads (issue 19).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0018_drop_merchant_index/drop_merchant_index.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0018_drop_merchant_index/downgrade.sql")
