"""Merchant label counts once per batch merchant, from a covering index of the label
history (issue 19).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0017_merchant_label_windows/merchant_label_windows.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0017_merchant_label_windows/downgrade.sql")
