"""One card transaction as pgfraud accepts it, and the checks every input passes.

Every source (simulator, CSV import, replay) builds :class:`CardTransaction` values and
hands them to :func:`problem`; a row with a problem is quarantined with a machine-readable
reason, never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal

from producer.cards import pan_problem

#: numeric(12, 2): at most 10 digits before the point.
MAX_AMOUNT = Decimal("9999999999.99")

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
    for name in ("trans_num", "merchant", "category"):
        if not getattr(tx, name).strip():
            return Rejection("missing_field", f"{name} is empty")
    card = pan_problem(tx.pan)
    if card:
        return Rejection("bad_card_number", card)
    if not tx.amount.is_finite():
        return Rejection("bad_amount", f"amount {tx.amount} is not a number")
    if tx.amount < 0:
        return Rejection("negative_amount", f"amount {tx.amount} is negative")
    if tx.amount > MAX_AMOUNT:
        return Rejection("bad_amount", f"amount {tx.amount} exceeds {MAX_AMOUNT}")
    if tx.transacted_at.tzinfo is None:
        return Rejection("bad_timestamp", "transaction time has no time zone")
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
    if tx.scenario is not None and tx.scenario not in SCENARIOS:
        return Rejection("bad_field", f"unknown fraud scenario {tx.scenario}")
    return None


def _coordinate_ok(value: float, limit: float) -> bool:
    return math.isfinite(value) and -limit <= value <= limit


def payload_sha256(tx: CardTransaction, card_token: str) -> str:
    """Hash of the stored payload: equal for a faithful re-send, different for any change.

    Ground truth (is_fraud, scenario) is not part of the payload.
    """
    fields = (
        tx.trans_num,
        tx.transacted_at.astimezone(dt.UTC).isoformat(),
        card_token,
        str(tx.amount.quantize(Decimal("0.01"))),
        tx.merchant,
        tx.category,
        repr(float(tx.merchant_lat)),
        repr(float(tx.merchant_long)),
        repr(tx.home_lat),
        repr(tx.home_long),
        repr(tx.city_pop),
        tx.birth_date.isoformat() if tx.birth_date else "",
    )
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()
