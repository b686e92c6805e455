"""Monitoring: the fingerprint of the last successful dbt build, so a build with nothing
new can skip dbt.

Revision ID: 0014
Revises: 0012 (0013 is on another branch: re-point down_revision to "0013" on merge)
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0014_mart_fingerprint/mart_builds.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0014_mart_fingerprint/downgrade.sql")
