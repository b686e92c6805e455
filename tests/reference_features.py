"""A pure-Python reference for feature set 1, written from docs/features.md, not from the SQL.

Used by the parity tests: stored (incremental) features = backfill = this reference.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Row:
    transaction_id: int
    card_token: str
    transacted_at: dt.datetime
    amount: Decimal
    merchant: str
    category: str
    merchant_lat: float
    merchant_long: float
    home_lat: float | None
    home_long: float | None
    birth_date: dt.date | None


@dataclass(frozen=True)
class LabelEvent:
    label_event_id: int
    transaction_id: int
    merchant: str
    transacted_at: dt.datetime
    new_value: bool | None
    labeled_at: dt.datetime


def km(lat1: float | None, long1: float | None, lat2: float, long2: float) -> float | None:
    """Haversine on coordinates rounded to 1e-9 degree, as docs/features.md says."""
    if lat1 is None or long1 is None:
        return None
    lat1, long1, lat2, long2 = (round(v * 1e9) for v in (lat1, long1, lat2, long2))
    a = (math.sin(math.radians((lat2 - lat1) / 1e9) / 2) ** 2
         + math.cos(math.radians(lat1 / 1e9)) * math.cos(math.radians(lat2 / 1e9))
         * math.sin(math.radians((long2 - long1) / 1e9) / 2) ** 2)
    return 2 * 6371.0088 * math.atan2(math.sqrt(a), math.sqrt(abs(1 - a)))


def rounded(value: Decimal | None, places: int) -> Decimal | None:
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def as_float(value: Decimal | None, places: int) -> float | None:
    result = rounded(value, places)
    return None if result is None else float(result)


def years_between(born: dt.date | None, on: dt.date) -> int | None:
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def features_for(row: Row, rows: list[Row], events: list[LabelEvent]) -> dict[str, Any]:
    t = row.transacted_at
    before = [h for h in rows if h.card_token == row.card_token
              and h.transaction_id < row.transaction_id and h.transacted_at <= t]
    month = [h for h in before if h.transacted_at > t - 30 * DAY]

    def within(span: dt.timedelta) -> list[Row]:
        return [h for h in month if h.transacted_at > t - span]

    out: dict[str, Any] = {"transaction_id": row.transaction_id, "feature_set_version": 1}
    for name, span in (("1h", HOUR), ("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        window = within(span)
        out[f"card_tx_count_{name}"] = len(window)
        out[f"card_amount_sum_{name}"] = sum((h.amount for h in window), Decimal("0.00"))

    with localcontext() as ctx:
        ctx.prec = 40
        n = len(month)
        mean: Decimal | None = None
        std: Decimal | None = None
        if n:
            mean = sum((h.amount for h in month), Decimal(0)) / n
        if n >= 2 and mean is not None:
            std = (sum(((h.amount - mean) ** 2 for h in month), Decimal(0)) / (n - 1)).sqrt()
        out["amount_mean_30d"] = rounded(mean, 4)
        out["amount_std_30d"] = rounded(std, 4)
        out["amount_zscore_30d"] = (as_float((row.amount - mean) / std, 6)
                                    if std and mean is not None else None)
        out["amount_ratio_30d"] = as_float(row.amount / mean, 6) if mean else None

    previous = max(before, key=lambda h: (h.transacted_at, h.transaction_id), default=None)
    if previous is None:
        out["seconds_since_previous"] = out["km_from_previous"] = None
        out["speed_kmh_from_previous"] = None
    else:
        seconds = (t - previous.transacted_at).total_seconds()
        distance = km(previous.merchant_lat, previous.merchant_long, row.merchant_lat,
                      row.merchant_long)
        assert distance is not None
        out["seconds_since_previous"] = seconds
        out["km_from_previous"] = distance
        out["speed_kmh_from_previous"] = distance / max(seconds, 60.0) * 3600.0
    out["km_from_home"] = km(row.home_lat, row.home_long, row.merchant_lat, row.merchant_long)
    day = within(DAY)
    out["distinct_merchants_24h"] = len({h.merchant for h in day})
    out["distinct_categories_24h"] = len({h.category for h in day})
    out["is_new_category_30d"] = all(h.category != row.category for h in month)
    utc = t.astimezone(dt.UTC)
    out["hour_of_day"] = utc.hour
    out["day_of_week"] = utc.isoweekday()
    out["cardholder_age_years"] = years_between(row.birth_date, utc.date())

    latest: dict[int, LabelEvent] = {}
    for event in sorted(events, key=lambda e: (e.labeled_at, e.label_event_id)):
        if (event.merchant == row.merchant and event.transaction_id != row.transaction_id
                and t - 30 * DAY < event.transacted_at <= t and event.labeled_at < t):
            latest[event.transaction_id] = event
    for name, span in (("7d", 7 * DAY), ("30d", 30 * DAY)):
        known = [e for e in latest.values()
                 if e.new_value is not None and e.transacted_at > t - span]
        count = sum(1 for e in known if e.new_value)
        seen = len(known)
        out[f"merchant_fraud_count_{name}"] = count
        out[f"merchant_fraud_rate_{name}"] = (as_float(Decimal(count) / Decimal(seen), 6)
                                              if seen else None)
    return out
