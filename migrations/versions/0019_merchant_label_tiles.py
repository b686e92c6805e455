"""Merchant label tiles: per merchant and event day, kept as labels arrive; compute_batch
counts a settled merchant's labels from them (issue 19).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0019_merchant_label_tiles/merchant_label_tiles.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0019_merchant_label_tiles/downgrade.sql")
