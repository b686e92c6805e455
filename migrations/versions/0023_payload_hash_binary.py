"""The payload hash is of the payload's binary COPY form, as staged (issue 19).

The producer hashed a text rendering of the fields (3.6 us a row of Python); it now
hashes the bytes it stages anyway (0.5 us). ``ingest.payload_sha256`` computes the same
from a stored row, and the upgrade rewrites every stored hash with it; the downgrade
writes the text form back.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0023_payload_hash_binary/payload_sha256.sql",
                    "migrations/0023_payload_hash_binary/rehash.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0023_payload_hash_binary/downgrade.sql")
