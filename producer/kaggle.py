"""Read the public Kaggle "credit card transactions fraud" layout (fraudTrain/fraudTest.csv).

Columns: an unnamed index, then ``trans_date_trans_time, cc_num, merchant, category, amt,
first, last, gender, street, city, state, zip, lat, long, city_pop, job, dob, trans_num,
unix_time, merch_lat, merch_long, is_fraud``. Names, street, job and gender are not kept:
scoring does not need them. Times carry no zone in the file and are read as UTC.

:func:`read_rows` streams the file (constant memory) and yields, per CSV record, either a
:class:`CardTransaction` or a :class:`Rejection`, with the raw fields. No input stops it:
bytes that are not UTF-8 are kept (as lone surrogates) for :func:`producer.records.problem`
to reject as ``bad_encoding``; a line longer than :data:`MAX_LINE_CHARS` or a field the
csv module refuses becomes one ``field_too_long`` / ``bad_row`` rejection and reading goes
on at the next line; numbers must be plain ASCII decimals (``12.50``, ``-73.9``, ``1e-3``
for coordinates), never ``nan``, ``1_000`` or other scripts' digits.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, TypeVar

from faker import Faker

from pgfraud.kernel.errors import PgfraudError
from producer.records import CardTransaction, Rejection

COLUMNS = (
    "trans_date_trans_time", "cc_num", "merchant", "category", "amt", "first", "last",
    "gender", "street", "city", "state", "zip", "lat", "long", "city_pop", "job", "dob",
    "trans_num", "unix_time", "merch_lat", "merch_long", "is_fraud",
)
REQUIRED = ("trans_date_trans_time", "cc_num", "merchant", "category", "amt", "trans_num",
            "merch_lat", "merch_long")

T = TypeVar("T")
Row = tuple[CardTransaction | Rejection, dict[str, str]]

#: A physical line longer than this is cut (the rest skipped) and its record rejected,
#: so one runaway line costs bounded memory. The csv module's own field limit is set to
#: the same size (its default, 128 KiB, raised an exception that stopped the import).
MAX_LINE_CHARS = 1 << 20
_AMOUNT = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?")


class _CountingReader(io.RawIOBase):
    """Counts bytes read from the underlying file, for a progress bar by size."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._on_read(len(data))
        return len(data)


def read_rows(path: Path, on_bytes: Callable[[int], None] = lambda n: None) -> Iterator[Row]:
    """Yield ``(transaction or rejection, raw fields)`` for each CSV record of ``path``."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below, wrapped for byte counting
    except OSError as exc:
        raise PgfraudError(f"cannot read {path}: {exc.strerror}") from exc
    with raw:
        text = io.TextIOWrapper(io.BufferedReader(_CountingReader(raw, on_bytes)),
                                encoding="utf-8", errors="surrogateescape", newline="")
        lines = _Lines(text)
        csv.field_size_limit(MAX_LINE_CHARS)  # the module's limit is process-wide
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise PgfraudError(f"{path}: cannot read the header line: {exc}") from None
        columns = _check_header(path, header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # the rest of the offending line is skipped
                lines.cut = False
                reason = "field_too_long" if "field limit" in str(exc) else "bad_row"
                yield (Rejection(reason, f"line {reader.line_num}: {exc}"),
                       {"file": path.name, "line": str(reader.line_num)})
                continue
            where = {"file": path.name, "line": str(reader.line_num)}
            if lines.cut:  # what was read of the line, for the operator
                lines.cut = False
                yield (Rejection("field_too_long", f"line {reader.line_num} is longer than "
                                                   f"{MAX_LINE_CHARS:,} characters"),
                       {"record": ",".join(row), **where})
                continue
            if not row:
                continue
            if len(row) != len(columns):
                yield (Rejection("bad_row", f"line {reader.line_num}: {len(row)} fields, "
                                            f"expected {len(columns)}"),
                       {"record": ",".join(row), **where})
                continue
            fields = dict(zip(columns, row, strict=True))
            fields.update(where)  # parse reads only the layout's columns
            yield parse(fields), fields


class _Lines:
    """The lines of ``text``, each at most :data:`MAX_LINE_CHARS` long: a longer line is
    cut there (``cut`` is set) and the rest of it is read and dropped."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._readline = text.readline
        self.cut = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._readline(MAX_LINE_CHARS)
        if len(line) < MAX_LINE_CHARS or line.endswith(("\n", "\r")):
            if line:
                return line
            raise StopIteration
        self.cut = True
        rest = line
        while rest and not rest.endswith(("\n", "\r")):
            rest = self._readline(MAX_LINE_CHARS)
        # The start of the line, for the rejection; without quotes, so a quote the cut
        # left open cannot swallow the lines after it.
        return line[:1024].replace('"', "") + "\n"


def _check_header(path: Path, header: list[str] | None) -> list[str]:
    if header is None:
        raise PgfraudError(f"{path} is empty")
    names = [h.strip() for h in header]
    if names and names[0] in ("", "Unnamed: 0", "index"):
        names[0] = "index"
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise PgfraudError(
            f"{path} is not in the Kaggle credit-card-fraud layout: missing columns "
            f"{', '.join(missing)} (found: {', '.join(names[:25])})"
        )
    return names


def parse(fields: dict[str, str]) -> CardTransaction | Rejection:
    """One CSV record to a transaction, or the reason it cannot be one."""
    missing = [name for name in REQUIRED if not fields.get(name, "").strip()]
    if missing:
        return Rejection("missing_field", f"empty: {', '.join(missing)}")
    try:
        transacted_at = dt.datetime.fromisoformat(fields["trans_date_trans_time"].strip())
    except ValueError:
        return Rejection("bad_timestamp",
                         f"cannot read time {fields['trans_date_trans_time'][:64]!r}")
    if transacted_at.tzinfo is None:
        transacted_at = transacted_at.replace(tzinfo=dt.UTC)
    amount_text = fields["amt"].strip()
    if not _AMOUNT.fullmatch(amount_text):
        return Rejection("bad_amount", f"amount {amount_text[:64]!r} is not a plain decimal "
                                       f"number")
    try:
        merchant_lat = _float(fields["merch_lat"])
        merchant_long = _float(fields["merch_long"])
        home_lat = _optional(fields.get("lat"), _float)
        home_long = _optional(fields.get("long"), _float)
    except ValueError:
        return Rejection("bad_coordinates", "a coordinate is not a plain decimal number")
    try:
        city_pop = _optional(fields.get("city_pop"), _int)
        birth_date = _optional(fields.get("dob"), dt.date.fromisoformat)
        is_fraud = _flag(fields.get("is_fraud", "0"))
    except ValueError as exc:
        return Rejection("bad_field", str(exc)[:200])
    return CardTransaction(
        trans_num=fields["trans_num"].strip(),
        transacted_at=transacted_at,
        pan=fields["cc_num"].strip(),
        amount=Decimal(amount_text),
        merchant=fields["merchant"].strip(),
        category=fields["category"].strip(),
        merchant_lat=merchant_lat,
        merchant_long=merchant_long,
        home_lat=home_lat,
        home_long=home_long,
        city_pop=city_pop,
        birth_date=birth_date,
        is_fraud=is_fraud,
    )


def _float(value: str) -> float:
    """An ASCII number: ``float`` alone also takes ``1_0`` and other scripts' digits
    (``nan``, ``inf`` and out-of-range values pass here and fail the range checks)."""
    if not value.isascii() or "_" in value:
        raise ValueError(f"{value[:64]!r} is not a plain decimal number")
    return float(value)


def _int(value: str) -> int:
    """At most 10 ASCII digits (``int`` alone takes ``1_0``, signs and other scripts)."""
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise ValueError(f"{value[:64]!r} is not a plain whole number")
    return int(value)


def _optional(value: str | None, convert: Callable[[str], T]) -> T | None:
    value = (value or "").strip()
    return convert(value) if value else None


def _flag(value: str | None) -> bool:
    value = (value or "").strip()
    if value in ("0", "1"):
        return value == "1"
    raise ValueError(f"is_fraud {value!r} is not 0 or 1")


def write_rows(path: Path, rows: Iterable[CardTransaction], seed: int = 0) -> int:
    """Write transactions in the Kaggle layout (names and addresses are made up by Faker;
    the file holds the synthetic card numbers, as the layout requires). Returns rows written."""
    faker = Faker("en_US")
    faker.seed_instance(seed)
    people: dict[str, tuple[str, ...]] = {}
    written = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("", *COLUMNS))
        for index, tx in enumerate(rows):
            person = people.get(tx.pan)
            if person is None:
                person = (faker.first_name(), faker.last_name(), faker.random_element("FM"),
                          faker.street_address(), faker.city(), faker.state_abbr(),
                          faker.zipcode(), faker.job())
                people[tx.pan] = person
            first, last, gender, street, city, state, zip_code, job = person
            at = tx.transacted_at.astimezone(dt.UTC)
            writer.writerow((
                index, at.strftime("%Y-%m-%d %H:%M:%S"), tx.pan, tx.merchant, tx.category,
                f"{tx.amount:.2f}", first, last, gender, street, city, state, zip_code,
                _text(tx.home_lat), _text(tx.home_long), _text(tx.city_pop), job,
                tx.birth_date.isoformat() if tx.birth_date else "", tx.trans_num,
                int(at.timestamp()), tx.merchant_lat, tx.merchant_long, int(tx.is_fraud),
            ))
            written += 1
    return written


def _text(value: object) -> str:
    return "" if value is None else str(value)
