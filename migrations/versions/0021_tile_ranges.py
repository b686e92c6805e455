"""compute_batch reads merchant label tiles by a key range, as running sums (issue 19).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0021_tile_ranges/tile_ranges.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0021_tile_ranges/downgrade.sql")
