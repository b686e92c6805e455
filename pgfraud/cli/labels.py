"""``pgfraud label``, ``review`` and ``analysts``: ground truth, the loop's feedback."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.console import Console
from rich.table import Table

from pgfraud.cli import params
from pgfraud.cli.output import plain
from pgfraud.kernel.db import connect
from pgfraud.kernel.names import ANALYST_ROLE

if TYPE_CHECKING:
    pass

out = Console()
err = Console(stderr=True)


@click.command()
@click.argument("transaction", required=False)
@click.argument("value", required=False, metavar="fraud|legit")
@click.option("--note", help="Why (kept in label_note and in the label history).")
@click.option("--csv", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Label many: a CSV with transaction_id or trans_num, label (fraud/legit) "
                   "and optionally note.")
def label(transaction: str | None, value: str | None, note: str | None,
          csv_file: Path | None) -> None:
    """Label a transaction as fraud or legit (TRANSACTION: id or trans_num), or many from
    a CSV. Runs as pgfraud_analyst.

    All or nothing: unknown or not yet scored transactions are listed and nothing is
    written. The label goes on every prediction of the transaction (champion and
    shadows); labeled_at and labeled_by are stamped by the database and each change is
    appended to scoring.label_events. Relabelling is allowed and recorded.

    \b
    Examples:
      pgfraud label 1042 fraud --note "cardholder confirmed"
      pgfraud label --csv chargebacks.csv
    The same in SQL, as an analyst:
      update scoring.predictions set true_value = true where transaction_id = 1042;
    """
    from pgfraud.labels.analysts import LabelRequest, apply_labels, parse_value, read_csv

    if csv_file is not None:
        if transaction or value:
            raise click.UsageError("give TRANSACTION and a value, or --csv, not both")
        requests = read_csv(csv_file)
        if note:
            requests = [r if r.note else LabelRequest(r.key, r.value, note) for r in requests]
    else:
        if not transaction or not value:
            raise click.UsageError("give TRANSACTION and fraud|legit (or --csv FILE)")
        requests = [LabelRequest(transaction, parse_value(value), note)]
    with connect(role=ANALYST_ROLE) as conn:
        summary = apply_labels(conn, requests)
    click.echo(f"labelled {summary.requested:,} request(s): {summary.newly_labelled:,} new, "
               f"{summary.relabelled:,} changed, {summary.unchanged:,} unchanged; "
               f"{summary.fraud:,} fraud")


@click.command()
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many alerts: the investigators' budget.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert.")
def review(top: int, as_json: bool) -> None:
    """The review queue: unlabelled alerts, highest score first, with reason codes and
    the card's recent history (scoring.review_queue). Runs as pgfraud_analyst."""
    from pgfraud.labels.analysts import review_queue

    with connect(role=ANALYST_ROLE) as conn:
        rows = review_queue(conn, top)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    if not rows:
        out.print("the review queue is empty: every alert is labelled")
        return
    table = Table(title=f"review queue (top {top} unlabelled alerts)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("tx", "when (UTC)", "card", "amount", "merchant", "score", "why",
                   "card before"):
        table.add_column(column, justify="right" if column in ("tx", "amount", "score")
                         else "left")
    for row in rows:
        why = ", ".join(r["feature"] for r in row["reasons"] or [])
        recent = row["card_recent_transactions"] or []
        before = "; ".join(f"{float(r['amount']):,.0f} {r['category']}" for r in recent[:3])
        table.add_row(str(row["transaction_id"]), f"{row['transacted_at']:%m-%d %H:%M}",
                      plain(f"…{row['card_last4']}"), f"{row['amount']:,.2f}",
                      plain(row["merchant"][:22]), f"{row['score']:.3f}", plain(why),
                      plain(before or "—"))
    out.print(table)
    out.print("label: pgfraud label TX fraud|legit  (or update scoring.predictions set "
              "true_value = … where transaction_id = TX)")


@click.command()
@click.option("--delay", default="2d", show_default=True, callback=params.timedelta,
              metavar="TIME", help="Event time between a transaction and its review.")
@click.option("--coverage", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Share of non-alerted transactions reviewed (every alert is).")
@click.option("--chargeback-delay", default="30d", show_default=True,
              callback=params.timedelta, metavar="TIME",
              help="Event time until a missed fraud comes back as a chargeback.")
@click.option("--seed", default=0, show_default=True, help="Which transactions are sampled.")
@click.option("--follow", is_flag=True, help="Keep labelling as time passes (every 5 s).")
def analysts(delay: dt.timedelta, coverage: float, chargeback_delay: dt.timedelta,
             seed: int, follow: bool) -> None:
    """Simulated analysts, for demos and backtests: label predictions from ground truth.

    Alerts are reviewed first (all of them), a --coverage sample of the other scored
    transactions too, each --delay after it happened (event time); frauds nobody
    reviewed come back as chargebacks after --chargeback-delay. Reads the truth schema,
    so it runs as the owner; the labels go through the same triggers as an analyst's.
    """
    from pgfraud.kernel.signals import stop_on_signals
    from pgfraud.labels.analysts import AnalystOptions, simulate_analysts

    options = AnalystOptions(delay=delay, coverage=coverage,
                             chargeback_delay=chargeback_delay,
                             seed=seed)
    with connect(autocommit=True) as conn, stop_on_signals() as stop:
        while True:
            done = simulate_analysts(conn, options)
            if done.labelled or not follow:
                click.echo(f"labelled {done.labelled:,} ({done.fraud:,} fraud): "
                           f"{done.alerts_reviewed:,} alerts reviewed, {done.sampled:,} "
                           f"sampled, {done.chargebacks:,} chargebacks")
            if not follow:
                return
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not stop():
                time.sleep(0.2)
            if stop():
                return
