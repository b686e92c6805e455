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
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

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

Row = tuple[CardTransaction | Rejection, Mapping[str, str]]

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
        # The layout's columns in COLUMNS order, by position; where a name repeats, the
        # last column of that name counts (as it would in a dict of the record).
        position = {name: index for index, name in enumerate(columns)}
        pick = operator.itemgetter(*(position[name] for name in COLUMNS))
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
            if lines.cut:  # what was read of the line, for the operator
                lines.cut = False
                yield (Rejection("field_too_long", f"line {reader.line_num} is longer than "
                                                   f"{MAX_LINE_CHARS:,} characters"),
                       _unread(row, path, reader.line_num))
                continue
            if not row:
                continue
            if len(row) != len(columns):
                yield (Rejection("bad_row", f"line {reader.line_num}: {len(row)} fields, "
                                            f"expected {len(columns)}"),
                       _unread(row, path, reader.line_num))
                continue
            yield _parse(pick(row)), Record(columns, row, path.name, reader.line_num)


def _unread(row: list[str], path: Path, line: int) -> dict[str, str]:
    """What a rejection keeps of a record that does not split into the layout's columns:
    its text, file and line."""
    return {"record": ",".join(row), "file": path.name, "line": str(line)}


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


class Record(Mapping[str, str]):
    """A record's raw fields by column name, with ``file`` and ``line``: what a rejection
    keeps of it. The dict is built when first read; most records are stored, and their
    raw fields are never read."""

    __slots__ = ("_names", "_values", "_file", "_line", "_fields")

    def __init__(self, names: Sequence[str], values: Sequence[str], file: str,
                 line: int) -> None:
        self._names = names
        self._values = values
        self._file = file
        self._line = line
        self._fields: dict[str, str] | None = None

    def _dict(self) -> dict[str, str]:
        if self._fields is None:
            fields = dict(zip(self._names, self._values, strict=True))
            fields.update(file=self._file, line=str(self._line))
            self._fields = fields
        return self._fields

    def __getitem__(self, key: str) -> str:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:
        return f"Record({self._dict()!r})"


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


def parse(fields: Mapping[str, str]) -> CardTransaction | Rejection:
    """One CSV record to a transaction, or the reason it cannot be one. An absent column
    reads as empty, except ``is_fraud``, which reads as 0."""
    return _parse([fields.get(name, "0" if name == "is_fraud" else "") for name in COLUMNS])


def _parse(values: Sequence[str]) -> CardTransaction | Rejection:
    """:func:`parse` of a record's values in :data:`COLUMNS` order."""
    (when, cc_num, merchant, category, amt, _first, _last, _gender, _street, _city, _state,
     _zip, lat, long, city_pop, _job, dob, trans_num, _unix_time, merch_lat, merch_long,
     is_fraud) = values
    when_text, pan, amount_text = when.strip(), cc_num.strip(), amt.strip()
    merchant, category, trans_num = merchant.strip(), category.strip(), trans_num.strip()
    if not (when_text and pan and merchant and category and amount_text and trans_num
            and merch_lat.strip() and merch_long.strip()):
        required = (when, cc_num, merchant, category, amt, trans_num, merch_lat, merch_long)
        missing = [name for name, value in zip(REQUIRED, required, strict=True)
                   if not value.strip()]
        return Rejection("missing_field", f"empty: {', '.join(missing)}")
    try:
        transacted_at = dt.datetime.fromisoformat(when_text)
    except ValueError:
        return Rejection("bad_timestamp", f"cannot read time {when[:64]!r}")
    if transacted_at.tzinfo is None:  # as replace(tzinfo=UTC), in a sixth of the time
        transacted_at = dt.datetime.combine(transacted_at.date(), transacted_at.time(), dt.UTC)
    if not _AMOUNT.fullmatch(amount_text):
        return Rejection("bad_amount", f"amount {amount_text[:64]!r} is not a plain decimal "
                                       f"number")
    lat, long, city_pop, dob = lat.strip(), long.strip(), city_pop.strip(), dob.strip()
    try:
        merchant_lat = _float(merch_lat)
        merchant_long = _float(merch_long)
        home_lat = _float(lat) if lat else None
        home_long = _float(long) if long else None
    except ValueError:
        return Rejection("bad_coordinates", "a coordinate is not a plain decimal number")
    try:
        population = _int(city_pop) if city_pop else None
        birth_date = dt.date.fromisoformat(dob) if dob else None
        fraud = _flag(is_fraud)
    except ValueError as exc:
        return Rejection("bad_field", str(exc)[:200])
    return CardTransaction(trans_num, transacted_at, pan, Decimal(amount_text), merchant,
                           category, merchant_lat, merchant_long, home_lat, home_long,
                           population, birth_date, fraud)


def _float(value: str) -> float:
    """An ASCII number: ``float`` alone also takes ``1_0`` and other scripts' digits
    (``nan``, ``inf`` and out-of-range values pass here and fail the range checks)."""
    if not value.isascii() or "_" in value:
        raise ValueError(f"{value[:64]!r} is not a plain decimal number")
    return float(value)


def _int(value: str) -> int:
    """At most 10 ASCII digits (``int`` alone takes ``1_0``, signs and other scripts)."""
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise ValueError(f"{value[:64]!r} is not a plain whole number")
    return int(value)


def _flag(value: str) -> bool:
    value = value.strip()
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
