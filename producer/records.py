"""One card transaction as pgfraud accepts it, and the checks every input passes.

Every source (simulator, CSV import, replay) builds :class:`CardTransaction` values and
hands them to :func:`problem`; a row with a problem is quarantined with a machine-readable
reason, never stored. ``ingest.accept_batch`` repeats the text checks in the database
(with the same limits) and adds the event-time policy, so no producer can skip them.

>>> import datetime as dt
>>> from decimal import ROUND_HALF_UP, Decimal
>>> tx = CardTransaction("t1", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "4111111111111111",
...                      Decimal("12.50"), "shop\\x00", "grocery_pos", 40.0, -74.0)
>>> problem(tx)
Rejection(reason='control_character', detail='merchant holds control character U+0000')
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pgfraud.kernel.card_numbers import pan_problem
from pgfraud.kernel.text import CONTROL_CHARACTERS

#: numeric(12, 2): at most 10 digits before the point.
MAX_AMOUNT = Decimal("9999999999.99")
_TOO_LARGE = Decimal("1e11")
CENT = Decimal("0.01")
#: Longest text accepted per field (characters); the database checks the same limits.
MAX_TEXT = {"trans_num": 128, "merchant": 256, "category": 64}
#: Lone surrogates: bytes that were not UTF-8, kept by the reader's surrogateescape.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
#: Either kind: one search answers for almost every value.
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff]")
#: The earliest birth date that makes sense for a cardholder.
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)

SCENARIOS = ("card_testing", "account_takeover", "compromised_merchant")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a row was not accepted: ``reason`` is a quarantine reason code."""

    reason: str
    detail: str


@dataclass(slots=True)
class CardTransaction:
    """A transaction before tokenization (``pan`` is still the raw card number)."""

    trans_num: str
    transacted_at: dt.datetime
    pan: str
    amount: Decimal
    merchant: str
    category: str
    merchant_lat: float
    merchant_long: float
    home_lat: float | None = None
    home_long: float | None = None
    city_pop: int | None = None
    birth_date: dt.date | None = None
    is_fraud: bool = False
    scenario: str | None = None
    incident_id: str | None = None


def problem(tx: CardTransaction) -> Rejection | None:
    """The first reason ``tx`` cannot be stored, or None. Mirrors the table's checks."""
    return None if _typical(tx) else _first_problem(tx)


def _first_problem(tx: CardTransaction) -> Rejection | None:
    """Every check, in order: the reason and its detail."""
    for name, limit in MAX_TEXT.items():
        text_problem = _text_problem(name, getattr(tx, name), limit)
        if text_problem:
            return text_problem
    card = pan_problem(tx.pan)
    if card:
        return Rejection("bad_card_number", card)
    if not tx.amount.is_finite():
        return Rejection("bad_amount", f"amount {tx.amount} is not a number")
    if tx.amount < 0:
        return Rejection("negative_amount", f"amount {tx.amount} is negative")
    # Only an amount above the maximum can round above it (quantize fails from 1e28 up).
    if tx.amount > MAX_AMOUNT and (tx.amount >= _TOO_LARGE
                                   or round_amount(tx.amount) > MAX_AMOUNT):
        return Rejection("bad_amount", f"amount {tx.amount:.2e} exceeds {MAX_AMOUNT}")
    if tx.transacted_at.tzinfo is None:
        return Rejection("bad_timestamp", "transaction time has no time zone")
    try:
        tx.transacted_at.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return Rejection("bad_timestamp", "transaction time is out of range in UTC")
    for label, lat, long in (("merchant", tx.merchant_lat, tx.merchant_long),
                             ("home", tx.home_lat, tx.home_long)):
        if lat is None and long is None and label == "home":
            continue
        if lat is None or long is None or not _coordinate_ok(lat, 90) or not _coordinate_ok(
            long, 180
        ):
            return Rejection("bad_coordinates", f"{label} location ({lat}, {long}) is out of range")
    if tx.city_pop is not None and not 0 <= tx.city_pop <= 2**31 - 1:
        return Rejection("bad_field", f"city_pop {tx.city_pop} is out of range")
    if tx.birth_date is not None and not (
            EARLIEST_BIRTH_DATE <= tx.birth_date <= tx.transacted_at.date()):
        return Rejection("bad_field", f"birth date {tx.birth_date} is before "
                                      f"{EARLIEST_BIRTH_DATE} or after the transaction")
    if tx.scenario is not None and tx.scenario not in SCENARIOS:
        return Rejection("bad_field", f"unknown fraud scenario {tx.scenario}")
    return None


def _typical(tx: CardTransaction) -> bool:
    """True only when :func:`_first_problem` finds nothing: its checks at once, on exact
    types (a float, not a Decimal, in a coordinate; a UTC time), without the messages,
    in about 60 % of the time. False sends the row through every check for its reason;
    a property test holds this to never answering True for a row with a problem."""
    trans_num, merchant, category = tx.trans_num, tx.merchant, tx.category
    if not (type(trans_num) is str and type(merchant) is str and type(category) is str
            and len(trans_num) <= 128 and len(merchant) <= 256 and len(category) <= 64
            and trans_num.strip() and merchant.strip() and category.strip()
            and _SUSPECT.search(trans_num + merchant + category) is None):
        return False
    pan, amount, at = tx.pan, tx.amount, tx.transacted_at
    if not (type(pan) is str and pan_problem(pan) is None
            and type(amount) is Decimal and amount.is_finite() and 0 <= amount <= MAX_AMOUNT
            and type(at) is dt.datetime and at.tzinfo is dt.UTC):
        return False
    lat, long = tx.merchant_lat, tx.merchant_long
    if not (type(lat) is float and type(long) is float
            and -90.0 <= lat <= 90.0 and -180.0 <= long <= 180.0):
        return False
    home_lat, home_long = tx.home_lat, tx.home_long
    if not (home_lat is None and home_long is None or (
            type(home_lat) is float and type(home_long) is float
            and -90.0 <= home_lat <= 90.0 and -180.0 <= home_long <= 180.0)):
        return False
    city_pop, birth_date, scenario = tx.city_pop, tx.birth_date, tx.scenario
    return ((city_pop is None or type(city_pop) is int and 0 <= city_pop <= 2**31 - 1)
            and (birth_date is None or type(birth_date) is dt.date
                 and EARLIEST_BIRTH_DATE <= birth_date <= at.date())
            and (scenario is None or scenario in SCENARIOS))


def round_amount(amount: Decimal) -> Decimal:
    """``amount`` to the cent, half up (what numeric(12, 2) stores); finite, below 1e11."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _text_problem(name: str, value: str, limit: int) -> Rejection | None:
    suspect = _SUSPECT.search(value) is not None
    if suspect and _NOT_UTF8.search(value):
        return Rejection("bad_encoding", f"{name} is not valid UTF-8")
    if not value.strip():
        return Rejection("missing_field", f"{name} is empty")
    if len(value) > limit:
        return Rejection("field_too_long", f"{name} has {len(value):,} characters "
                                           f"(at most {limit})")
    control = CONTROL_CHARACTERS.search(value) if suspect else None
    if control:
        return Rejection("control_character",
                         f"{name} holds control character U+{ord(control.group()):04X}")
    return None


def _coordinate_ok(value: float, limit: float) -> bool:
    return math.isfinite(value) and -limit <= value <= limit


@dataclass
class Incident:
    """A simulated fraud incident, recorded in ``truth.fraud_incidents``."""

    incident_id: str
    scenario: str
    started_at: Any
    pan: str | None = None
    merchant: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
