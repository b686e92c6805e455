"""The HTTP API: its role, clients with hashed tokens, decisions, the 'api' source, and
queued transactions the champion already decided.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0015_api/api.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0015_api/downgrade.sql")
