"""The simulated world: cities, cardholders with their cards, merchants. Deterministic per seed.

>>> world = build_world(seed=1, cards=50, merchants=30)
>>> len(world.cards), len(world.merchants)
(50, 30)
>>> build_world(seed=1, cards=50, merchants=30).cards[0].pan == world.cards[0].pan
True
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from faker import Faker
from faker.providers.geo import Provider as GeoProvider

from pgfraud.kernel.card_numbers import luhn_check_digit


@dataclass(frozen=True)
class Category:
    name: str
    median_amount: float   # dollars
    sigma: float           # log-normal spread of amounts
    online: bool
    share: float           # share of an average card's transactions
    evening: float = 1.0   # activity multiplier 18:00-23:00
    weekend: float = 1.0   # activity multiplier Saturday and Sunday


# The Kaggle layout's 14 categories, with amount and timing profiles.
CATEGORIES: tuple[Category, ...] = (
    Category("grocery_pos", 55, 0.6, False, 0.15, weekend=1.3),
    Category("gas_transport", 45, 0.5, False, 0.13),
    Category("home", 60, 0.9, False, 0.09, weekend=1.4),
    Category("shopping_pos", 70, 0.9, False, 0.09, weekend=1.5),
    Category("kids_pets", 45, 0.8, False, 0.08),
    Category("shopping_net", 80, 1.0, True, 0.08, evening=1.6),
    Category("entertainment", 50, 0.8, False, 0.07, evening=2.0, weekend=1.8),
    Category("food_dining", 35, 0.7, False, 0.08, evening=2.2, weekend=1.5),
    Category("personal_care", 30, 0.8, False, 0.07),
    Category("health_fitness", 40, 0.7, False, 0.06),
    Category("misc_pos", 40, 1.0, False, 0.05),
    Category("misc_net", 30, 1.0, True, 0.04, evening=1.5),
    Category("grocery_net", 50, 0.6, True, 0.03),
    Category("travel", 250, 1.1, False, 0.02),
)
CATEGORY_BY_NAME = {c.name: c for c in CATEGORIES}

# Relative activity by hour of day (local time is not modelled: one clock for all).
HOURLY = (0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.35, 0.7, 0.95, 1.05, 1.15, 1.3,
          1.45, 1.35, 1.2, 1.2, 1.3, 1.45, 1.55, 1.45, 1.2, 0.9, 0.6, 0.3)
WEEKDAY = (0.95, 0.92, 0.95, 1.0, 1.12, 1.13, 0.93)  # Monday .. Sunday
_MEAN_HOURLY = sum(HOURLY) / 24
_MEAN_WEEKDAY = sum(WEEKDAY) / 7

# Card brands: (IIN prefix choices, length).
BRANDS = (
    (("4",), 16),                                   # Visa
    (("51", "52", "53", "54", "55"), 16),           # Mastercard
    (("34", "37"), 15),                             # American Express
    (("6011", "65"), 16),                           # Discover
)
BRAND_WEIGHTS = (0.55, 0.3, 0.08, 0.07)


@dataclass(frozen=True)
class City:
    name: str
    lat: float
    long: float
    population: int


@dataclass
class Card:
    """A cardholder and their card. ``pan`` never leaves the producer process."""

    index: int
    pan: str
    home: City
    home_lat: float
    home_long: float
    birth_date: dt.date
    daily_rate: float                     # expected transactions per day
    spend_factor: float                   # multiplies category median amounts
    category_weights: tuple[float, ...]   # aligned with CATEGORIES
    regulars: dict[str, list[int]] = field(default_factory=dict)  # category -> merchants near home


@dataclass(frozen=True)
class Merchant:
    index: int
    name: str
    category: Category
    city: City
    lat: float
    long: float


@dataclass
class World:
    cities: list[City]
    cards: list[Card]
    merchants: list[Merchant]
    by_city_category: dict[tuple[str, str], list[int]]
    by_category: dict[str, list[int]]

    nearby: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def merchants_for(self, city: City, category: str, rng: random.Random) -> Merchant:
        """A merchant of ``category`` serving ``city``: one in the city, else in the nearest
        city that has one; online merchants serve every city."""
        if CATEGORY_BY_NAME[category].online:
            return self.merchants[rng.choice(self.by_category[category])]
        return self.merchants[rng.choice(self.nearby[(city.name, category)])]


def pan_for(rng: random.Random) -> str:
    prefixes, length = rng.choices(BRANDS, weights=BRAND_WEIGHTS)[0]
    partial = rng.choice(prefixes)
    partial += "".join(rng.choice("0123456789") for _ in range(length - len(partial) - 1))
    return partial + luhn_check_digit(partial)


def jitter(rng: random.Random, lat: float, long: float, km: float) -> tuple[float, float]:
    """A point about ``km`` from (lat, long), clamped to valid coordinates."""
    dlat = rng.gauss(0, km / 111.0)
    dlong = rng.gauss(0, km / (111.0 * max(0.2, math.cos(math.radians(lat)))))
    return (round(max(-90.0, min(90.0, lat + dlat)), 6),
            round((long + dlong + 180.0) % 360.0 - 180.0, 6))


def build_world(seed: int, cards: int, merchants: int, today: dt.date | None = None) -> World:
    rng = random.Random(f"world-{seed}")
    faker = Faker("en_US")
    faker.seed_instance(seed)
    places = sorted((p for p in GeoProvider.land_coords if p[3] == "US"), key=lambda p: p[2])
    cities = [
        City(name, float(lat), float(long), int(rng.lognormvariate(10.5, 1.3)) + 500)
        for lat, long, name, _, _ in rng.sample(places, k=max(5, min(60, merchants // 20)))
    ]
    city_weights = [c.population ** 0.5 for c in cities]

    merchant_list = []
    for index in range(merchants):
        category = CATEGORIES[index % len(CATEGORIES)] if index < len(CATEGORIES) else \
            rng.choices(CATEGORIES, weights=[c.share for c in CATEGORIES])[0]
        city = rng.choices(cities, weights=city_weights)[0]
        lat, long = jitter(rng, city.lat, city.long, 8.0)
        name = f"{faker.company()} {'Online' if category.online else city.name}"
        merchant_list.append(Merchant(index, name, category, city, lat, long))
    by_city_category: dict[tuple[str, str], list[int]] = {}
    by_category: dict[str, list[int]] = {}
    for m in merchant_list:
        by_city_category.setdefault((m.city.name, m.category.name), []).append(m.index)
        by_category.setdefault(m.category.name, []).append(m.index)

    today = today or dt.date(2026, 1, 1)
    card_list = []
    for index in range(cards):
        home = rng.choices(cities, weights=city_weights)[0]
        home_lat, home_long = jitter(rng, home.lat, home.long, 12.0)
        age_days = int(rng.uniform(18, 88) * 365.25)
        weights = tuple(c.share * rng.gammavariate(2.0, 0.5) for c in CATEGORIES)
        card = Card(
            index=index,
            pan=pan_for(rng),
            home=home,
            home_lat=home_lat,
            home_long=home_long,
            birth_date=today - dt.timedelta(days=age_days),
            daily_rate=min(12.0, rng.lognormvariate(0.6, 0.6)),
            spend_factor=rng.lognormvariate(0.0, 0.35),
            category_weights=weights,
        )
        local = [i for (city, _), ids in by_city_category.items() if city == home.name
                 for i in ids]
        for merchant_index in rng.sample(local, k=min(5, len(local))):
            category_name = merchant_list[merchant_index].category.name
            card.regulars.setdefault(category_name, []).append(merchant_index)
        card_list.append(card)
    nearby = {}
    for city in cities:
        by_distance = sorted(cities, key=lambda c: haversine_km(city.lat, city.long, c.lat, c.long))
        for category in CATEGORIES:
            nearby[(city.name, category.name)] = next(
                by_city_category[(c.name, category.name)] for c in by_distance
                if (c.name, category.name) in by_city_category
            )
    return World(cities, card_list, merchant_list, by_city_category, by_category, nearby)


def activity(at: dt.datetime) -> float:
    """Traffic multiplier for ``at`` relative to the average hour (1.0)."""
    return (HOURLY[at.hour] / _MEAN_HOURLY) * (WEEKDAY[at.weekday()] / _MEAN_WEEKDAY)


def category_time_factor(category: Category, at: dt.datetime) -> float:
    factor = category.evening if 18 <= at.hour <= 23 else 1.0
    return factor * (category.weekend if at.weekday() >= 5 else 1.0)


def haversine_km(lat1: float, long1: float, lat2: float, long2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))
