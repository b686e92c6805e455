"""Fraud scenarios injected into the simulated stream, each one a plan of future transactions.

- **card_testing**: a stolen card number is tried with a burst of tiny online purchases,
  sometimes followed by one large "cash-out" purchase.
- **account_takeover**: minutes after the cardholder's own purchase at home, the card is
  used far away (an impossible travel speed) for high amounts in categories the card has
  not used for 30 days.
- **compromised_merchant**: a physical merchant's terminal is skimmed; cards used there
  during a three-day window are defrauded elsewhere, online or in other cities, days later.

Every planned transaction carries its scenario and incident id; they reach only the
ground-truth schema (``truth``), never a column the scorer reads.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from producer.world import Card, Merchant, World, haversine_km


class Stream(Protocol):
    """What a fraud scenario reads of the stream it plants itself in
    (:class:`producer.stream.TransactionStream`)."""

    world: World
    rng: random.Random

    def categories_unused(self, card: Card, at: dt.datetime, days: int) -> set[str]: ...

    def recent_cards(self, merchant: Merchant, since: dt.datetime) -> list[Card]: ...

ONLINE = ("misc_net", "shopping_net", "grocery_net")
HIGH_VALUE = ("shopping_pos", "shopping_net", "travel", "entertainment", "misc_pos", "home")
#: Incident weights; a card-testing burst is ~8 transactions, a takeover ~4, a
#: compromised merchant ~5 cards x 2.
SCENARIO_WEIGHTS = {"card_testing": 0.25, "account_takeover": 0.5, "compromised_merchant": 0.25}
COMPROMISE_WINDOW = dt.timedelta(days=3)


@dataclass(frozen=True)
class PlannedFraud:
    """One fraudulent transaction planned for ``at``."""

    at: dt.datetime
    card: Card
    merchant: Merchant
    amount: Decimal
    scenario: str
    incident_id: str


def money(value: float) -> Decimal:
    return Decimal(f"{max(0.01, value):.2f}")


def far_merchants(stream: Stream, card: Card, categories: set[str],
                  min_km: float = 1000.0) -> list[Merchant]:
    """Physical merchants of ``categories`` at least ``min_km`` from the card's home (else
    the ten farthest): where an attacker, not the cardholder, would shop."""
    def km(m: Merchant) -> float:
        return haversine_km(card.home_lat, card.home_long, m.lat, m.long)

    physical = [m for m in stream.world.merchants
                if not m.category.online and m.category.name in categories] or \
        [m for m in stream.world.merchants
         if not m.category.online and m.category.name in HIGH_VALUE]
    far = [m for m in physical if km(m) >= min_km]
    return far or sorted(physical, key=km, reverse=True)[:10]


def card_testing(stream: Stream, card: Card, at: dt.datetime,
                 incident_id: str) -> list[PlannedFraud]:
    rng = stream.rng
    plan = []
    when = at + dt.timedelta(seconds=rng.uniform(30, 600))
    for _ in range(rng.randint(5, 12)):
        merchant = stream.world.merchants_for(card.home, rng.choice(ONLINE), rng)
        amount = rng.choice((1.0, 0.5, 2.0, 1.99, 4.95, rng.uniform(0.5, 5.0)))
        plan.append(PlannedFraud(when, card, merchant, money(amount), "card_testing",
                                 incident_id))
        when += dt.timedelta(seconds=rng.uniform(5, 90))
    if rng.random() < 0.4:
        when += dt.timedelta(minutes=rng.uniform(10, 60))
        merchant = stream.world.merchants_for(card.home, "shopping_net", rng)
        plan.append(PlannedFraud(when, card, merchant, money(rng.uniform(300, 1500)),
                                 "card_testing", incident_id))
    return plan


def account_takeover(stream: Stream, card: Card, at: dt.datetime,
                     incident_id: str) -> list[PlannedFraud]:
    rng = stream.rng
    unused = stream.categories_unused(card, at, days=30)
    wanted = {c for c in HIGH_VALUE if c in unused} or unused or set(HIGH_VALUE)
    candidates = far_merchants(stream, card, wanted)
    plan = []
    when = at + dt.timedelta(minutes=rng.uniform(3, 40))
    for _ in range(rng.randint(2, 6)):
        merchant = rng.choice(candidates)
        category = merchant.category
        amount = min(5000.0, category.median_amount * card.spend_factor * rng.uniform(4, 12))
        plan.append(PlannedFraud(when, card, merchant, money(amount), "account_takeover",
                                 incident_id))
        when += dt.timedelta(minutes=rng.uniform(10, 90))
    return plan


def compromised_merchant(stream: Stream, merchant: Merchant, at: dt.datetime,
                         incident_id: str) -> list[PlannedFraud] | None:
    """Defraud cards seen at ``merchant`` in the last three days; None if too few."""
    rng = stream.rng
    seen = stream.recent_cards(merchant, at - COMPROMISE_WINDOW)
    if merchant.category.online or len(seen) < 3:
        return None
    victims = rng.sample(seen, k=min(len(seen), rng.randint(3, 8)))
    plan = []
    for card in victims:
        when = at + dt.timedelta(hours=rng.uniform(12, 96))
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.6:
                category = rng.choice(ONLINE)
                target = stream.world.merchants_for(card.home, category, rng)
            else:
                target = rng.choice(far_merchants(stream, card, set(HIGH_VALUE), 500.0))
            plan.append(PlannedFraud(when, card, target, money(rng.uniform(80, 900)),
                                     "compromised_merchant", incident_id))
            when += dt.timedelta(minutes=rng.uniform(5, 240))
    return plan


def choose_scenario(rng: random.Random) -> str:
    names = list(SCENARIO_WEIGHTS)
    return rng.choices(names, weights=[SCENARIO_WEIGHTS[n] for n in names])[0]
