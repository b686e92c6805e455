"""Monitoring: the fingerprint of the last successful dbt build, so a build with nothing
new can skip dbt.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0014_mart_fingerprint/mart_builds.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0014_mart_fingerprint/downgrade.sql")
