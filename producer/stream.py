"""The simulated transaction stream: ordinary spending with fraud incidents mixed in.

Event time is a simulated clock starting at ``start``: ordinary transactions arrive as a
Poisson process whose rate follows the hour of day and day of week; each picks a card by
its activity, a category by the card's habits and the time, a merchant near where the
cardholder is (home, or a trip destination for a few days), and a log-normal amount for
the category. Fraud incidents (:mod:`producer.fraud`) are started so that fraudulent
transactions make up ``fraud_rate`` of the stream, and are merged in event-time order.

The stream is a pure function of its :class:`StreamConfig`:

>>> cfg = StreamConfig(seed=3, start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), cards=40,
...                    merchants=30)
>>> a = [tx.trans_num for tx, _ in itertools.islice(TransactionStream(cfg), 50)]
>>> b = [tx.trans_num for tx, _ in itertools.islice(TransactionStream(cfg), 50)]
>>> a == b
True
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import functools
import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from producer import fraud
from producer.records import CardTransaction, Incident
from producer.world import (
    CATEGORIES,
    Card,
    City,
    Merchant,
    activity,
    build_world,
    category_time_factor,
    haversine_km,
)

TRIP_PROBABILITY_PER_DAY = 1 / 45
CATEGORY_INDEX = {c.name: i for i, c in enumerate(CATEGORIES)}
TRAVEL_INDEX = CATEGORY_INDEX["travel"]


@dataclass(frozen=True)
class StreamConfig:
    seed: int = 42
    start: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(
        microsecond=0))
    fraud_rate: float = 0.01
    cards: int = 2000
    merchants: int = 400

    def __post_init__(self) -> None:
        if not 0 <= self.fraud_rate < 0.5:
            raise ValueError("fraud_rate must be in [0, 0.5)")
        if self.cards < 3 or self.merchants < len(CATEGORIES):
            raise ValueError(f"need at least 3 cards and {len(CATEGORIES)} merchants")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")


@dataclass
class _CardState:
    trip_city: City | None = None
    trip_until: dt.datetime | None = None
    category_last_used: list[float] = field(default_factory=lambda: [-math.inf] * len(
        CATEGORIES))


@functools.cache
def _time_factors(hour: int, weekday: int) -> tuple[float, ...]:
    at = dt.datetime(2026, 1, 5 + weekday, hour)  # 2026-01-05 is a Monday
    return tuple(category_time_factor(c, at) for c in CATEGORIES)


class TransactionStream:
    """Iterate to get ``(transaction, incident or None)`` in event-time order, forever."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.world = build_world(config.seed, config.cards, config.merchants,
                                 today=config.start.date())
        # The world depends on the seed only; the stream on seed and start, so another
        # start gives new transactions (new trans_nums) from the same cardholders.
        self.rng = random.Random(f"stream-{config.seed}-{config.start.isoformat()}")
        self.clock = config.start
        self._cum_rates = list(itertools.accumulate(c.daily_rate for c in self.world.cards))
        self._rate_per_s = self._cum_rates[-1] / 86400.0
        self._state = [_CardState() for _ in self.world.cards]
        self._visits: dict[int, collections.deque[tuple[dt.datetime, int]]] = {}
        self._planned: list[tuple[dt.datetime, int, fraud.PlannedFraud]] = []
        self._sequence = itertools.count()
        self._incidents: dict[str, Incident] = {}
        self._incident_counter = itertools.count(1)
        self.normal_emitted = 0
        self.fraud_emitted = 0

    # -------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[tuple[CardTransaction, Incident | None]]:
        ratio = self.config.fraud_rate / (1 - self.config.fraud_rate)
        while True:
            tx, card, merchant = self._next_ordinary()
            while self._planned and self._planned[0][0] <= tx.transacted_at:
                yield self._emit_planned(heapq.heappop(self._planned)[2])
            self.normal_emitted += 1
            yield tx, None
            while self.fraud_emitted + len(self._planned) < ratio * self.normal_emitted:
                self._start_incident(card, merchant, tx.transacted_at)

    # -------------------------------------------------------------- ordinary spending
    def _next_ordinary(self) -> tuple[CardTransaction, Card, Merchant]:
        rng = self.rng
        self.clock += dt.timedelta(
            seconds=rng.expovariate(self._rate_per_s * activity(self.clock)))
        at = self.clock
        card = self.world.cards[bisect.bisect(self._cum_rates, rng.random() * self._cum_rates[-1])]
        state = self._state[card.index]
        city = self._where(card, state, at)
        factors = _time_factors(at.hour, at.weekday())
        weights = [w * f for w, f in zip(card.category_weights, factors, strict=True)]
        weights[TRAVEL_INDEX] *= 8.0 if city is not card.home else 0.3
        category = rng.choices(CATEGORIES, weights=weights)[0]
        regulars = card.regulars.get(category.name)
        if city is card.home and regulars and rng.random() < 0.5:
            merchant = self.world.merchants[rng.choice(regulars)]
        else:
            merchant = self.world.merchants_for(city, category.name, rng)
        amount = rng.lognormvariate(math.log(category.median_amount * card.spend_factor),
                                    category.sigma)
        tx = self._transaction(card, merchant, fraud.money(max(1.0, amount)), at)
        self._remember(card, merchant, at)
        return tx, card, merchant

    def _where(self, card: Card, state: _CardState, at: dt.datetime) -> City:
        if state.trip_until is not None and at < state.trip_until and state.trip_city:
            return state.trip_city
        state.trip_city = state.trip_until = None
        if self.rng.random() < TRIP_PROBABILITY_PER_DAY / max(card.daily_rate, 0.1):
            destinations = [c for c in self.world.cities
                            if haversine_km(c.lat, c.long, card.home.lat, card.home.long) > 300]
            if destinations:
                state.trip_city = self.rng.choice(destinations)
                state.trip_until = at + dt.timedelta(days=self.rng.uniform(2, 7))
                return state.trip_city
        return card.home

    def _remember(self, card: Card, merchant: Merchant, at: dt.datetime) -> None:
        self._state[card.index].category_last_used[
            CATEGORY_INDEX[merchant.category.name]] = at.timestamp()
        if merchant.category.online:
            return
        visits = self._visits.setdefault(merchant.index, collections.deque())
        visits.append((at, card.index))
        horizon = at - fraud.COMPROMISE_WINDOW
        while visits and visits[0][0] < horizon:
            visits.popleft()

    # -------------------------------------------------------------- fraud
    def categories_unused(self, card: Card, at: dt.datetime, days: int) -> set[str]:
        cutoff = at.timestamp() - days * 86400
        last = self._state[card.index].category_last_used
        return {c.name for c, used in zip(CATEGORIES, last, strict=True) if used < cutoff}

    def recent_cards(self, merchant: Merchant, since: dt.datetime) -> list[Card]:
        indexes = sorted({i for at, i in self._visits.get(merchant.index, ()) if at >= since})
        return [self.world.cards[i] for i in indexes]

    def _start_incident(self, card: Card, merchant: Merchant, at: dt.datetime) -> None:
        scenario = fraud.choose_scenario(self.rng)
        incident_id = f"s{self.config.seed}-{next(self._incident_counter):06d}"
        plan = None
        if scenario == "compromised_merchant":
            plan = fraud.compromised_merchant(self, merchant, at, incident_id)
            if plan is None:
                scenario = "account_takeover"
        if scenario == "card_testing":
            plan = fraud.card_testing(self, card, at, incident_id)
        elif plan is None:
            plan = fraud.account_takeover(self, card, at, incident_id)
        self._incidents[incident_id] = Incident(
            incident_id=incident_id, scenario=scenario, started_at=at,
            pan=card.pan if scenario != "compromised_merchant" else None,
            merchant=merchant.name if scenario == "compromised_merchant" else None,
            detail={"planned_transactions": len(plan),
                    "cards": len({p.card.index for p in plan})},
        )
        for planned in plan:
            heapq.heappush(self._planned, (planned.at, next(self._sequence), planned))

    def _emit_planned(self, planned: fraud.PlannedFraud) -> tuple[CardTransaction,
                                                                   Incident | None]:
        tx = self._transaction(planned.card, planned.merchant, planned.amount, planned.at)
        tx.is_fraud, tx.scenario, tx.incident_id = True, planned.scenario, planned.incident_id
        self._remember(planned.card, planned.merchant, planned.at)
        self.fraud_emitted += 1
        return tx, self._incidents.get(planned.incident_id)

    # -------------------------------------------------------------- helpers
    def _transaction(self, card: Card, merchant: Merchant, amount: Decimal,
                     at: dt.datetime) -> CardTransaction:
        return CardTransaction(
            trans_num=f"{self.rng.getrandbits(128):032x}",
            transacted_at=at,
            pan=card.pan,
            amount=amount,
            merchant=merchant.name,
            category=merchant.category.name,
            merchant_lat=merchant.lat,
            merchant_long=merchant.long,
            home_lat=card.home_lat,
            home_long=card.home_long,
            city_pop=card.home.population,
            birth_date=card.birth_date,
        )
