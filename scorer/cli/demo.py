"""``pgfraud demo``: the README's main command on the embedded default."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import click
from psycopg import sql

from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.run import Limits, run
from producer.stream import StreamConfig, TransactionStream
from scorer import migrate as migrations
from scorer import registry
from scorer.db import connect, database_url, redact
from scorer.names import PRODUCER_ROLE, TRAINER_ROLE

TABLES = ("ingest.transactions", "ingest.quarantine", "features.transaction_features",
          "truth.fraud_transactions", "scoring.predictions", "scoring.alerts", "ml.models")
QUERIES = (
    ("Transactions per category yesterday",
     "select category, count(*), round(avg(amount), 2) as avg_amount\n"
     "  from ingest.transactions group by 1 order by 2 desc;"),
    ("The newest transactions with their features (docs/features.md)",
     "select t.transaction_id, t.card_last4, t.amount, t.category, f.card_tx_count_24h,\n"
     "       f.amount_zscore_30d, f.km_from_home, f.speed_kmh_from_previous\n"
     "  from ingest.transactions t join features.transaction_features f using (transaction_id)\n"
     "  order by t.transaction_id desc limit 5;"),
    ("The newest alerts with their reason codes (docs/scoring.md)",
     "select transaction_id, card_last4, amount, merchant, round(score::numeric, 3) as score,\n"
     "       reasons->0->>'feature' as top_reason\n"
     "  from scoring.alerts order by alert_id desc limit 5;"),
    ("The simulated fraud (ground truth; the scorer cannot read it)",
     "select i.scenario, count(*) as transactions, count(distinct i.incident_id) as incidents\n"
     "  from truth.fraud_transactions f join truth.fraud_incidents i using (incident_id)\n"
     "  group by 1;"),
)


@click.command()
@click.option("--span", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Days of simulated history to generate (0 to skip).")
def demo(span: float) -> None:
    """Set up the database, stream a day of simulated traffic, bootstrap a model, show
    queries to try.

    Uses the embedded PostgreSQL unless DATABASE_URL is set. The history is
    deterministic (seed 42) and ends at midnight UTC today, so running the demo again the
    same day adds nothing. Without a champion model, one is trained on 14 days of
    simulated history (pgfraud train --bootstrap) and promoted; then every queued
    transaction is scored (pgfraud score --once). Labelling and reports join this command
    as they are built.
    """
    url = database_url()
    click.echo(f"database   {redact(url)}")
    migrations.upgrade(url)
    click.echo(f"schema     revision {migrations.current_revision(url)}")
    if span > 0:
        midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = midnight - dt.timedelta(days=span)
        stream = TransactionStream(StreamConfig(seed=42, start=start))
        with connect(url, role=PRODUCER_ROLE) as conn, Ingestor(
            conn, source="stream", tokenizer=Tokenizer.from_settings()
        ) as ingestor:
            sent = run(stream, ingestor, Limits(span_s=span * 86400))
        click.echo(f"produced   {sent:,} simulated transactions from {start:%Y-%m-%d %H:%M} "
                   f"UTC: {ingestor.stats.accepted:,} new, {ingestor.stats.duplicates:,} "
                   f"already there, {stream.fraud_emitted:,} fraudulent")
    _bootstrap_model(url)
    _score(url)
    with connect(url) as conn:
        for table in TABLES:
            row = conn.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier(*table.split(".")))
            ).fetchone()
            click.echo(f"  {table:<30} {row[0] if row else 0:>10,} rows")
    click.echo("\nTry (pgfraud db psql, or psql \"$(pgfraud db url)\"):")
    for title, query in QUERIES:
        click.echo(f"\n  -- {title}\n  {query}")


def _bootstrap_model(url: str) -> None:
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        current = registry.champion(conn)
    if current is None:
        from scorer.bootstrap import bootstrap_champion  # LightGBM, ONNX: only when needed

        click.echo("model      no champion yet: training one on 14 days of simulated history "
                   "(pgfraud train --bootstrap) ...")
        current = bootstrap_champion(url)
    with connect(url, role=TRAINER_ROLE) as conn:
        info = registry.show(conn, current)
    validation = info["metrics"].get("validation", {})
    click.echo(f"model      champion {current} ({info['mode'] or 'unknown'} training): "
               f"validation AUC {validation.get('roc_auc') or 0:.3f}, average precision "
               f"{validation.get('average_precision') or 0:.3f} (random ranking "
               f"{validation.get('random_average_precision') or 0:.3f}); "
               f"pgfraud models show {current}")


def _score(url: str) -> None:
    from scorer.scoring import Scorer

    started = time.monotonic()
    scored = alerts = 0

    def count(result: Any) -> None:
        nonlocal scored, alerts
        scored += result.claimed
        alerts += result.alerts

    with Scorer(url, batch_size=2000) as scorer:
        scorer.run(lambda: False, once=True, on_batch=count)
    click.echo(f"scored     {scored:,} transactions in {time.monotonic() - started:.1f} s "
               f"(pgfraud score --once): {alerts:,} alerts; live: pgfraud score, "
               f"pgfraud alerts tail")
