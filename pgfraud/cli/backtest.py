"""``pgfraud replay``: a backtest of a Kaggle-layout file, reported so a team can trust it.

The report leads with what is comparable: each week, and each model on the traffic it
scored as champion; then one steady-state figure over the weeks scored only by models
trained on the file's own labels. The figure pooled over every champion comes last, with
why it differs (``pgfraud.backtest.replay.POOLED_NOTE``). Every row of the file is accounted for,
and every decision is shown with its event time, rule, numbers and whole detail.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pgfraud.cli import params
from pgfraud.cli.output import plain, printable
from pgfraud.cli.progress import progress

if TYPE_CHECKING:
    from pgfraud.backtest.replay import ReplayReport
    from pgfraud.lifecycle.governance import Gates

out = Console()
err = Console(stderr=True)


@click.command()
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--label-delay", default="7d", show_default=True, callback=params.timedelta,
              metavar="TIME", help="Event time until a transaction's label is revealed.")
@click.option("--retrain-every", default="7d", show_default=True, callback=params.timedelta,
              metavar="TIME", help="Event time between retraining decisions.")
@params.gate_options
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report as JSON here (the same sections as printed).")
def replay(csv_file: Path, label_delay: dt.timedelta, retrain_every: dt.timedelta,
           gates: Gates, report_path: Path | None) -> None:
    """Backtest: replay a Kaggle-layout CSV through ingest, features, scoring, delayed
    labels and weekly retraining, as fast as the machine goes, then report.

    Rows go in event-time order, a simulated day at a time. Each transaction's label is
    revealed --label-delay after it (as an analyst would write true_value); every
    --retrain-every a retraining round runs on the labels known at that moment, with the
    promotion gates of `pgfraud retrain` (a challenger scores in shadow first and takes
    charge only on evidence). A bootstrap model covers the first weeks.

    \b
    The report, in order:
    - where every row went: read = stored + already stored + quarantined by reason;
    - steady state: the weeks scored only by models trained on this file's labels
      (mean of the weekly ROC AUC and AP, with their range; money pooled);
    - each week (weeks scored by the bootstrap model marked *) and each model on
      the traffic it scored as champion: ROC AUC, AP, card precision@100, alert
      precision/recall, value detected (fraud amount alerted / fraud amount);
    - the figure pooled over every champion, secondary (their scores are not on
      one scale);
    - the model history: every decision's event time, rule, numbers and detail.
    """
    from pgfraud.backtest.replay import ReplayOptions
    from pgfraud.backtest.replay import replay as run_replay
    from pgfraud.kernel import migrate
    from pgfraud.kernel.db import database_url
    from producer.cards import Tokenizer

    migrate.ensure_schema(announce=err.print)
    options = ReplayOptions(label_delay=label_delay, retrain_every=retrain_every,
                            margin=gates.margin, gates=gates)
    with progress("reading", file_size=csv_file.stat().st_size, console=err) as bar:

        def on_progress(stage: str, done: int, total: int, at: dt.datetime | None) -> None:
            if stage == "reading":  # bytes of the file, before any row is known
                bar.update(file_read=done, file_size=total)
            elif stage == "replaying":
                bar.update(phase=stage, done=done, total=total, event_time=at)
            else:  # the bootstrap model: no rows of the file yet
                bar.update(phase=stage, event_time=at)

        report = run_replay(database_url(), csv_file, options,
                            tokenizer=Tokenizer.from_settings(), on_progress=on_progress)
    print_report(report, csv_file.name)
    if report_path is not None:
        report_path.write_text(json.dumps(report.as_json(), indent=2, default=str))
        click.echo(f"report written to {report_path}")


def print_report(report: ReplayReport, name: str) -> None:
    from pgfraud.backtest.replay import POOLED_NOTE

    _accounting(report, name)
    _steady_state(report)
    weeks = _metrics_table("each week, judged on the traffic its champions scored",
                           "week of")
    for week in report.weeks:
        champions = ", ".join(week["champions"])
        weeks.add_row(f"{week['week_start']}{' *' if week['bootstrap'] else ''}",
                      champions, *_metric_cells(week))
    out.print(weeks)
    if any(week["bootstrap"] for week in report.weeks):
        out.print("* scored (in part) by a model not trained on this file's labels "
                  "(the bootstrap or an existing champion)")
    models = _metrics_table("each champion, judged on the traffic it scored", "model")
    for model in report.models:
        models.add_row(f"{model['model_version']}",
                       f"{model['source']}, {model['first_event']} to {model['last_event']}",
                       *_metric_cells(model))
    out.print(models)
    pooled = report.pooled
    if pooled:
        out.print(Text(
            f"pooled over all {pooled['models']} champions (secondary): ROC AUC "
            f"{_n(pooled['roc_auc'])}, AP {_n(pooled['average_precision'])} (random "
            f"{_n(pooled['random_average_precision'])}), value detected "
            f"{_n(pooled['value_detected'])}. This figure {POOLED_NOTE}"))
    _history(report)


def _accounting(report: ReplayReport, name: str) -> None:
    a = report.accounting
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in a.quarantined.items())
    quarantined = sum(a.quarantined.values())
    out.print(Text(
        f"replayed {printable(name)}: {a.read:,} rows read = {a.stored:,} stored + "
        f"{a.already_stored:,} already stored + {quarantined:,} quarantined"
        + (f" ({reasons})" if reasons else "")
        + f"; {a.scored:,} transactions scored by a champion"))
    if a.accounted != a.read:
        out.print(Text(f"warning: {a.read - a.accounted:,} rows unaccounted for"),
                  style="red")
    rate = a.read / max(report.seconds, 1e-9)
    out.print(Text(f"{report.seconds:,.1f} s ({rate:,.0f} rows/s): " + ", ".join(
        f"{phase} {seconds:,.1f} s" for phase, seconds in report.phases.items())))
    trained = [t for t in report.trainings if t["training_seconds"] is not None]
    if trained:
        times = ", ".join(f"{t['training_seconds']:,.1f}" for t in trained)
        longest = max(trained, key=lambda t: t["training_seconds"])
        out.print(Text(
            f"retraining: {len(report.trainings)} rounds, {len(trained)} trained (s each: "
            f"{times}); the longest loaded {longest['dataset_rows']:,} rows at event time "
            f"{longest['event_time'][:10]}"))
    elif report.trainings:
        out.print(Text(f"retraining: {len(report.trainings)} rounds, none trained"))


def _steady_state(report: ReplayReport) -> None:
    steady = report.steady_state
    if steady is None:
        promoted = sum(d.outcome == "promoted" for d in report.decisions)
        first = report.champions[0][1] if report.champions else "?"
        out.print(Text(
            f"\nsteady state: none. No model trained on this file's labels scored a whole "
            f"week ({len(report.decisions)} decisions, {promoted} promoted); model "
            f"{first}, not trained on this file, was champion throughout. Its weekly "
            f"figures below say how a model from elsewhere does on this traffic, not how "
            f"pgfraud does once it has learnt from it."), style="bold")
        return

    def stat(name: str) -> str:
        value = steady[name]
        if value is None:
            return "-"
        return f"{value['mean']:.3f} ({value['min']:.3f}-{value['max']:.3f})"

    out.print(Text(
        f"\nsteady state, {steady['weeks']} weeks from {steady['first_week']} scored only by "
        f"models trained on this file's labels: mean weekly AP {stat('average_precision')}, "
        f"mean weekly ROC AUC {stat('roc_auc')}, value detected "
        f"{_n(steady['value_detected'])} ({steady['transactions']:,} transactions, "
        f"{steady['frauds']:,} frauds)"), style="bold")


def _metrics_table(title: str, first: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(first)
    table.add_column("champion" if first == "week of" else "trained / scored")
    for column in ("transactions", "frauds", "ROC AUC", "AP", "random AP", "CP@100",
                   "alert precision", "alert recall", "value detected"):
        table.add_column(column, justify="right")
    return table


def _metric_cells(m: dict[str, Any]) -> list[str]:
    return [f"{m['transactions']:,}", f"{m['frauds']:,}", _n(m["roc_auc"]),
            _n(m["average_precision"]), _n(m["random_average_precision"]),
            _n(m["card_precision_at_100"]), _n(m["alert_precision"]),
            _n(m["alert_recall"]), _n(m["value_detected"])]


def _history(report: ReplayReport) -> None:
    history = Table(title="model history", title_justify="left", box=box.SIMPLE_HEAD,
                    pad_edge=False)
    for column in ("event time", "decision", "rule", "champion", "challenger", "evidence"):
        history.add_column(column, no_wrap=column != "evidence")
    history.add_column("detail", overflow="fold", ratio=1)
    for at, version in report.champions[:1]:
        history.add_row(at[:16].replace("T", " "), "starting champion", "", str(version), "",
                        "", "")
    for decision in report.decisions:
        history.add_row(f"{decision.at:%Y-%m-%d %H:%M}" if decision.at else "",
                        decision.outcome, decision.rule or "", str(decision.champion or ""),
                        str(decision.challenger or ""), plain(evidence_summary(decision.evidence)),
                        plain(decision.detail))
    out.print(history)


def evidence_summary(evidence: dict[str, Any]) -> str:
    """The deciding numbers of a decision's evidence, short: AP of both models, the
    bootstrap's lower bound, matured frauds, days in shadow, training time.

    >>> evidence_summary({"comparison": {"champion_ap": 0.8, "challenger_ap": 0.9,
    ...                   "lower": 0.01, "frauds": 60}, "shadow_days": 3.0})
    'AP 0.900 vs 0.800, lower bound +0.010, 60 frauds; 3.0 days in shadow'
    >>> evidence_summary({})
    ''
    """
    parts = []
    comparison = evidence.get("comparison") or {}
    if comparison.get("challenger_ap") is not None:
        parts.append(f"AP {comparison['challenger_ap']:.3f} vs {comparison['champion_ap']:.3f}, "
                     f"lower bound {comparison['lower']:+.3f}, {comparison['frauds']} frauds")
    offline = evidence.get("offline") or {}
    if not parts and (offline.get("challenger") or {}).get("average_precision") is not None:
        champion = (offline.get("champion") or {}).get("average_precision")
        parts.append(f"validation AP {offline['challenger']['average_precision']:.3f}"
                     + (f" vs {champion:.3f}" if champion is not None else ""))
    if evidence.get("shadow_days") is not None:
        parts.append(f"{evidence['shadow_days']:.1f} days in shadow")
    if evidence.get("training_seconds") is not None:
        parts.append(f"trained in {evidence['training_seconds']:.1f} s")
    return "; ".join(parts)


def _n(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
