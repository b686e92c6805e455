"""Hardening: bounded event time, the database's own checks of staged rows, one label
per transaction with every change audited, registration only through functions, and the
grants the README's role table lists (nothing more).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0007_hardening/event_time.sql",
        "migrations/0007_hardening/card_numbers.sql",
        "migrations/0007_hardening/accept_batch.sql",
        "migrations/0007_hardening/labels.sql",
        "migrations/0007_hardening/registry.sql",
        "migrations/0007_hardening/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0007_hardening/downgrade.sql")
