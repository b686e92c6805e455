"""Label batches: scoring.write_labels, the owner's set-based counterpart of the
scoring.write_label trigger (simulated analysts and replays).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0016_label_batches/write_labels.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0016_label_batches/downgrade.sql")
