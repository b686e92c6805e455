"""A database the monitoring marts can be tested on: the whole loop, briefly.

Ten days of simulated traffic: a champion and a weaker shadow model trained on the
first three, then day by day the real scorer and simulated analysts (reviews after a
day, chargebacks after three), so labels arrive on the event clock as they would; a
few rejected CSV rows; a CSV seeded with card numbers in every text field (stored
rows, masked, and rejected rows, quarantined); then ``dbt build``. Label maturity is
five days here (``VARS``), so the first days have matured metrics and the last ones do
not. The card numbers let tests prove none is at rest anywhere the loop writes.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from pgfraud.kernel.db import connect
from pgfraud.kernel.names import TRAINER_ROLE
from pgfraud.labels.analysts import AnalystOptions, simulate_analysts
from pgfraud.lifecycle.governance import Gates
from pgfraud.lifecycle.retrain import RetrainOptions, retrain
from pgfraud.monitoring import dbt_runner as analytics
from producer import kaggle
from producer.stream import StreamConfig, TransactionStream
from scorer.scoring import Scorer
from tests.history import START, produce, quick_model

DAYS = 10
VARS = {"label_maturity_days": 5}
ANALYSTS = AnalystOptions(delay=dt.timedelta(days=1), coverage=0.3,
                          chargeback_delay=dt.timedelta(days=3))
PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))


@dataclasses.dataclass(frozen=True)
class Monitored:
    url: str
    champion: int
    shadow: int
    dbt_state: Path     # dbt's target/ and logs/ for this database
    quarantined: int
    seeded_csv: Path    # the imported file with card numbers in every text field


def rejected_rows_csv(path: Path, count: int = 12) -> Path:
    """A Kaggle-layout CSV whose every row is broken in one of three ways."""
    config = StreamConfig(seed=99, start=START, cards=50, merchants=60)
    rows = [tx for tx, _ in itertools.islice(TransactionStream(config), count)]
    clean = path.with_suffix(".clean.csv")
    kaggle.write_rows(clean, rows)
    with open(clean, newline="") as source, open(path, "w", newline="") as target:
        reader, writer = csv.DictReader(source), None
        for number, record in enumerate(reader):
            if writer is None:
                writer = csv.DictWriter(target, fieldnames=list(record))
                writer.writeheader()
            match number % 3:
                case 0:
                    record["amt"] = "twelve"
                case 1:
                    record["merchant"] = ""
                case _:
                    record["merch_lat"] = "123.4"
            writer.writerow(record)
    return path


#: How a feed might write a card number into text: plain, grouped, glued to letters.
CARD_LAYOUTS = (
    "{pan}", "Shop {g4}", "ref{pan}", "{dots}", "{dashes} x", "pay:{pan}#", "AMEX {amex}",
)
SEEDED_VALID = 30
SEEDED_INVALID = 6


def _layouts(pan: str, n: int) -> str:
    groups = [pan[i:i + 4] for i in range(0, len(pan), 4)]
    text = CARD_LAYOUTS[n % len(CARD_LAYOUTS)]
    return text.format(pan=pan, g4=" ".join(groups), dots=".".join(groups),
                       dashes="-".join(groups), amex=f"{pan[:4]} {pan[4:10]} {pan[10:15]}")


def seeded_card_numbers_csv(path: Path, start: dt.datetime) -> Path:
    """A Kaggle-layout CSV with a card number in every text field of every row:
    ``SEEDED_VALID`` rows pgfraud stores (merchant masked, trans_num tokenized, the
    other fields dropped) and ``SEEDED_INVALID`` it quarantines (bad amount)."""
    config = StreamConfig(seed=123, start=start, cards=40, merchants=30)
    rows = [tx for tx, _ in itertools.islice(TransactionStream(config),
                                             SEEDED_VALID + SEEDED_INVALID)]
    clean = path.with_suffix(".clean.csv")
    kaggle.write_rows(clean, rows)
    with open(clean, newline="") as source, open(path, "w", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=list(reader.fieldnames or []))
        writer.writeheader()
        for number, (record, tx) in enumerate(zip(reader, rows, strict=True)):
            pan = tx.pan
            for field in ("merchant", "first", "last", "street", "city", "job", "trans_num"):
                record[field] = _layouts(pan, number + len(field))
            record["trans_num"] = f"ref{pan}-{number}"
            if number >= SEEDED_VALID:
                record["amt"] = f"{pan} dollars"
            writer.writerow(record)
    clean.unlink()
    return path


def score_and_label(url: str) -> None:
    """Score everything queued, then let the simulated analysts catch up."""
    with Scorer(url) as scorer:
        scorer.run(lambda: False, once=True)
    with psycopg.connect(url) as conn:
        simulate_analysts(conn, ANALYSTS)


def advance(url: str, first_day: int, days: int) -> None:
    """Traffic for days ``first_day`` .. ``first_day + days - 1``, one day at a time,
    each scored and labelled before the next."""
    for day in range(first_day, first_day + days):
        produce(url, days=1, cards=300, seed=11, start=START + dt.timedelta(days=day))
        score_and_label(url)


#: The HTTP API's client in the fixture (the owner writes its decisions directly).
API_CLIENT = "monitoring"
#: Decisions for every API_SHARE-th transaction the champion scored; of those, one in
#: FALLBACK_EVERY of each fallback reason (deadline, no_champion, error).
API_SHARE = 3
FALLBACK_EVERY = 20
API_DECISIONS = """
insert into api.decisions (transaction_id, client_id, decision, model_version, score,
                           reasons, is_fallback, fallback_reason, latency_ms, decided_at)
select p.transaction_id, c.client_id,
       case when f.reason is not null then 'review'
            when p.is_alert then 'decline'
            when p.score >= p.threshold / 10 then 'review'
            else 'approve' end,
       case when f.reason is distinct from 'no_champion' then p.model_version end,
       case when f.reason is distinct from 'no_champion' then p.score end,
       '[]', f.reason is not null, f.reason,
       p.latency_ms * (1 + p.transaction_id %% 7), p.scored_at
from scoring.predictions as p
cross join (select client_id from api.clients
            where name = %(client)s and revoked_at is null) as c
cross join lateral (
    select (array['deadline', 'no_champion', 'error'])[
        (p.transaction_id / %(share)s) %% %(fallback_every)s + 1] as reason) as f
where not p.is_shadow and p.transaction_id %% %(share)s = 0
  and not exists (select from api.decisions as d where d.transaction_id = p.transaction_id)
"""


def decide_by_api(url: str) -> None:
    """Rows of ``api.decisions`` for transactions the champion scored and the API has not
    decided yet (the fixture does not run ``pgfraud serve``; the owner writes them): at
    the prediction's time, declines for alerts, reviews and approvals by score, a few
    fallbacks of each reason."""
    with psycopg.connect(url) as conn:
        conn.execute("insert into api.clients (name, token_sha256) "
                     "select %(name)s, repeat('0', 64) where not exists "
                     "(select from api.clients where name = %(name)s)", {"name": API_CLIENT})
        conn.execute(API_DECISIONS, {"client": API_CLIENT, "share": API_SHARE,
                                     "fallback_every": FALLBACK_EVERY})


def populate(url: str, workdir: Path) -> Monitored:
    produce(url, days=3, cards=300, seed=11)
    champion = quick_model(url, status="champion", seed=0, trees=30)
    shadow = quick_model(url, status="shadow", seed=1, trees=3)
    score_and_label(url)
    advance(url, 3, DAYS - 3)
    env = {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": "k" * 32}
    seeded = seeded_card_numbers_csv(workdir / "seeded.csv",
                                     START + dt.timedelta(days=DAYS - 1, hours=1))
    for csv_file in (rejected_rows_csv(workdir / "rejected.csv"), seeded):
        subprocess.run([PGFRAUD, "import", str(csv_file)], env=env, check=True,
                       capture_output=True, stdin=subprocess.DEVNULL)
    score_and_label(url)
    decide_by_api(url)
    # One decision for the decisions panel. The quick champion's score reference is
    # in-sample, so its live PSI would trip the guardrail: not what this fixture is about.
    calm = Gates(max_score_psi=math.inf, max_alert_ratio=math.inf)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        retrain(conn, RetrainOptions(min_new_labels=10**9, gates=calm))
    state = workdir / "dbt"
    analytics.build(url, state_dir=state, variables=VARS)
    return Monitored(url, champion, shadow, state, quarantined=12 + SEEDED_INVALID,
                     seeded_csv=seeded)
