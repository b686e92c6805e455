"""``pgfraud label``, ``review``, ``analysts`` and ``retrain``: the feedback loop."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from scorer.cli import params
from scorer.cli.models import threshold_rule_options, threshold_settings
from scorer.cli.output import plain
from scorer.db import connect
from scorer.names import ANALYST_ROLE, DRIFT_PSI_THRESHOLD, TRAINER_ROLE

if TYPE_CHECKING:
    from scorer.governance import Gates

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
    from scorer.labels import LabelRequest, apply_labels, parse_value, read_csv

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
    from scorer.labels import review_queue

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
    from scorer.labels import AnalystOptions, simulate_analysts
    from scorer.workers import stop_on_signals

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


@click.command()
@click.option("--auto", "auto", is_flag=True,
              help="Train only if at least --min-labels new labels arrived since the last "
                   "training (otherwise: always train).")
@click.option("--min-labels", default=500, show_default=True, type=click.IntRange(min=0),
              help="With --auto: transactions newly labelled (or relabelled) needed; a "
                   "transaction counts once, notes do not count.")
@click.option("--label-delay", default="7d", show_default=True, callback=params.timedelta,
              metavar="TIME", help="Labels of transactions older than this count as matured.")
@click.option("--drift-threshold", default=DRIFT_PSI_THRESHOLD, show_default=True, type=float,
              help="With --auto: also train when a feature's (or the score's) PSI over the "
                   "last --drift-window exceeds this.")
@click.option("--drift-window", default="7d", show_default=True, callback=params.timedelta,
              metavar="TIME", help="Event time the drift is measured over.")
@params.training_set_options
@threshold_rule_options
@params.gate_options
def retrain(auto: bool, min_labels: int, label_delay: dt.timedelta,
            drift_threshold: float, drift_window: dt.timedelta, threshold_rule: str | None,
            alert_rate: float | None, target_precision: float | None,
            review_cost: float | None, gates: Gates, training_set: dict[str, Any]) -> None:
    """One round of the retraining loop; a challenger takes charge only on evidence.

    \b
    In order (docs/labels.md, docs/models.md "Promotion on evidence"):
    1. guardrail: a promoted champion whose live scores broke their bounds is rolled
       back to the previous one;
    2. the challenger already in shadow is judged on its own live scores next to the
       champion's (same transactions, labels older than --label-delay): it needs
       --min-shadow in shadow, --min-frauds matured frauds, and a paired bootstrap's
       --confidence lower bound of the AP difference above --margin; while it still
       gathers evidence nothing new is trained;
    3. trigger: with --auto, only when --min-labels new labels arrived since the last
       training or the champion's inputs drifted (largest PSI over --drift-window above
       --drift-threshold); without --auto, always;
    4. a new challenger is trained on the last --train-window of labelled event time
       (legitimate rows sampled above --max-train-rows, weighted back), gated on its
       own card (ranking, training frauds, own validation) and put in shadow.

    Every decision is recorded in ml.retrain_decisions with the rule that decided it and
    its numbers, also when nothing is triggered, and announced on pgfraud_decisions.
    """
    from scorer import retrain as retraining
    from scorer import training

    rule = threshold_settings(threshold_rule, alert_rate, target_precision, review_cost)
    options = retraining.RetrainOptions(min_new_labels=min_labels, margin=gates.margin,
                                        label_delay=label_delay,
                                        drift_threshold=drift_threshold,
                                        drift_window=drift_window,
                                        force=not auto,
                                        train=training.TrainOptions(**rule, **training_set),
                                        gates=gates)
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        decision = retraining.retrain(conn, options, on_stage=lambda s: err.print(s))
    for each in [*decision.earlier, decision]:
        click.echo(f"decision {each.decision_id}: {each.outcome} "
                   f"({each.trigger_reason}, {each.new_labels:,} new labels)"
                   + (f"; challenger {each.challenger}" if each.challenger else "")
                   + f" [{each.rule}]: {each.detail}")
