"""Card numbers at rest: the scan behind the promise that nothing stores one in clear.

No table, log, report or dbt artifact may hold a card number: a Luhn-valid candidate as
``pgfraud.kernel.card_numbers`` defines it. :func:`scan_database` reads every text-like column of
the project's schemas (found in the catalog, so a new table is covered the day it is
added); :func:`scan_paths` reads files and directories. A :class:`Finding` says where,
and shows the number masked, never in clear.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "app.log").write_text("ok\\npaid with 4111-1111-1111-1111 at 12:00\\n")
>>> [str(f).replace(str(folder), "…") for f in scan_paths([folder])]
['…/app.log line 2: ************1111']
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
from psycopg import sql

from pgfraud.kernel import queries
from pgfraud.kernel.card_numbers import (
    PREFILTER_PATTERN,
    find_card_numbers,
    mask_pan,
    may_hold_card_number,
)
from pgfraud.kernel.errors import PgfraudError

log = logging.getLogger(__name__)

#: Schemas scanned (those that exist).
SCHEMAS = ("ingest", "features", "scoring", "ml", "truth", "analytics", "analytics_staging", "api")
#: Column types scanned, and arrays and domains of them. Never bytea: binary.
TEXT_TYPES = ("text", "varchar", "bpchar", "json", "jsonb")
#: Declared model artifacts, never scanned, with the reason.
EXCLUDED_COLUMNS: dict[tuple[str, str, str], str] = {
    # A LightGBM model's text lists integer counts and sizes separated by spaces, such
    # as internal_count=4523 1234 4567 1234: exactly a 4-4-4-4 card layout, and one in
    # ten such runs passes the Luhn check.
    ("ml", "models", "lightgbm_model"): "LightGBM model text (integer counts read as cards)",
}
#: Files larger than this are skipped, with a warning.
MAX_FILE_BYTES = 512 * 1024 * 1024
#: The same model text in a file (one that starts with this header): its lines of integer
#: lists (``leaf_count=``, ``internal_count=``, ``tree_sizes=`` …) are not scanned; every
#: other line is.
LIGHTGBM_MODEL_HEADER = b"tree\nversion=v"
_LIGHTGBM_INTEGER_LINE = re.compile(r"[a-z_]+=-?[0-9]+(?: -?[0-9]+)*\r?")

# Bytes a candidate or the context it is judged by can hold (and any byte of a multi-byte
# UTF-8 character): a file is cut into pieces only after a newline or some other byte,
# so the pieces hold the same card numbers as the whole.
_NEAR_CARD = b"0123456789abcdefABCDEF .-" + bytes(range(0x80, 0x100))
_CHUNK_BYTES = 1024 * 1024



@dataclass(frozen=True)
class Finding:
    """A card number at rest: where (``schema.table.column`` or a file), which row
    (``ctid (0,3)`` or ``line 12``), and the number masked."""

    source: str
    row: str
    masked: str

    def __str__(self) -> str:
        return f"{self.source} {self.row}: {self.masked}"


def scan_database(conn: psycopg.Connection[Any], *,
                  on_table: Callable[[int, int], None] = lambda done, total: None,
                  ) -> list[Finding]:
    """Every card number in the columns :func:`scanned_columns` lists.

    One pass per table: PostgreSQL returns only values the prefilter (13 digits with at
    most one separator between two) lets through, and only those reach Python.
    """
    findings: list[Finding] = []
    with conn.transaction():
        columns = scanned_columns(conn)
        for done, ((schema, table), names) in enumerate(columns.items()):
            on_table(done, len(columns))
            findings += _scan_table(conn, schema, table, names)
        on_table(len(columns), len(columns))
    return findings


def scanned_columns(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], list[str]]:
    """``(schema, table) -> columns`` scanned: the text-like columns (:data:`TEXT_TYPES`)
    of every table and materialized view in :data:`SCHEMAS`, but not
    :data:`EXCLUDED_COLUMNS`."""
    columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in conn.execute(
        queries.load("leaks")["text_columns"],
        {"schemas": list(SCHEMAS), "types": list(TEXT_TYPES)}
    ):
        if (schema, table, column) not in EXCLUDED_COLUMNS:
            columns.setdefault((schema, table), []).append(column)
    return columns


def _scan_table(conn: psycopg.Connection[Any], schema: str, table: str,
                columns: list[str]) -> Iterator[Finding]:
    as_text = [sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns]
    query = sql.SQL("select ctid::text, {values} from {table} where {any_candidate}").format(
        values=sql.SQL(", ").join(
            sql.SQL("case when {v} ~ %(prefilter)s then {v} end").format(v=v) for v in as_text),
        table=sql.Identifier(schema, table),
        any_candidate=sql.SQL(" or ").join(
            sql.SQL("{v} ~ %(prefilter)s").format(v=v) for v in as_text),
    )
    for ctid, *values in conn.cursor().stream(query, {"prefilter": PREFILTER_PATTERN}):
        for column, value in zip(columns, values, strict=True):
            for digits in find_card_numbers(value or ""):
                yield Finding(f"{schema}.{table}.{column}", f"ctid {ctid}", mask_pan(digits))


def scan_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Finding]:
    """Every card number in the files given, and in the files under the directories
    given (symbolic links to directories are not followed). Files are read as UTF-8,
    undecodable bytes replaced, binary files too; files over :data:`MAX_FILE_BYTES` are
    skipped with a warning."""
    findings: list[Finding] = []
    for path in map(Path, paths):
        if not path.exists():
            raise PgfraudError(f"{path} does not exist")
        for file in _files(path):
            size = file.stat().st_size
            if size > MAX_FILE_BYTES:
                log.warning("skipped %s: %d MB is more than the %d MB scanned", file,
                            size >> 20, MAX_FILE_BYTES >> 20)
                continue
            with open(file, "rb") as handle:
                findings += (Finding(str(file), f"line {line}", mask_pan(digits))
                             for line, digits in _scan_file(handle))
    return findings


def _files(path: Path) -> Iterator[Path]:
    if not path.is_dir():
        yield path
        return
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            file = Path(root, name)
            if stat.S_ISREG(file.stat().st_mode):  # not a socket, FIFO or device
                yield file


def _scan_file(handle: BinaryIO) -> Iterator[tuple[int, str]]:
    """``(line number, digits)`` of every card number in an open file."""
    head = handle.read(len(LIGHTGBM_MODEL_HEADER))
    is_model = head == LIGHTGBM_MODEL_HEADER
    line, rest = 1, head
    while True:
        chunk = handle.read(_CHUNK_BYTES)
        data = rest + chunk
        # Cut after the last line if there is one, else after the last byte no candidate
        # can hold (a binary file may have no line at all).
        cut = len(data) if not chunk else (data.rfind(b"\n") + 1
                                           or len(data.rstrip(_NEAR_CARD)))
        if cut == 0 and chunk:
            rest = data  # no place to cut yet: read on
            continue
        piece, rest = data[:cut], data[cut:]
        text = piece.decode("utf-8", errors="replace")
        if may_hold_card_number(text):
            for offset, text_line in enumerate(text.split("\n")):
                if is_model and _LIGHTGBM_INTEGER_LINE.fullmatch(text_line):
                    continue
                for digits in find_card_numbers(text_line):
                    yield line + offset, digits
        line += piece.count(b"\n")
        if not chunk:
            return
