"""``pgfraud train`` and ``pgfraud models``: the model lifecycle."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pgfraud.cli import params
from pgfraud.cli.output import plain, printable
from pgfraud.cli.progress import progress, spinner_columns
from pgfraud.kernel.db import connect, database_url
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import DRIFT_PSI_THRESHOLD, TRAINER_ROLE
from pgfraud.lifecycle import governance, registry
from pgfraud.lifecycle.governance import Gates, Verdict

console = Console(stderr=True)
out = Console()


THRESHOLD_RULES = ("alert-rate", "precision", "cost")
DEFAULT_ALERT_RATE = 0.01
DEFAULT_REVIEW_COST = 5.0
_RULE_FLAGS = {"alert-rate": "--alert-rate", "precision": "--target-precision",
               "cost": "--review-cost"}


def threshold_rule_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The threshold rule's options, shared by ``train`` and ``retrain``; turn their values
    into TrainOptions fields with :func:`threshold_settings`."""
    options = [
        click.option("--threshold-rule", type=click.Choice(THRESHOLD_RULES),
                     help="How the alert threshold is chosen on the validation window "
                          "[default: alert-rate, or the rule the options below imply]."),
        click.option("--alert-rate", type=click.FloatRange(0, 1, min_open=True),
                     help="alert-rate rule: alert on at most this share of transactions "
                          f"[default: {DEFAULT_ALERT_RATE}]."),
        click.option("--target-precision", type=click.FloatRange(0, 1, min_open=True),
                     help="precision rule: the lowest threshold reaching this precision "
                          "(highest recall at that precision)."),
        click.option("--review-cost", type=click.FloatRange(min=0),
                     help="cost rule: money per reviewed alert; the threshold minimises "
                          "reviews x cost + missed fraud amount [default: "
                          f"{DEFAULT_REVIEW_COST:g}]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def threshold_settings(rule: str | None, alert_rate: float | None,
                       target_precision: float | None,
                       review_cost: float | None) -> dict[str, Any]:
    """TrainOptions fields for the threshold options; a rule's own option implies it."""
    given = {"alert-rate": alert_rate, "precision": target_precision, "cost": review_cost}
    implied = [name for name, value in given.items() if value is not None]
    if len(implied) > 1:
        raise click.UsageError(f"{' and '.join(_RULE_FLAGS[n] for n in implied)} belong to "
                               f"different threshold rules; give one")
    if rule is None:
        rule = implied[0] if implied else "alert-rate"
    elif implied and implied != [rule]:
        raise click.UsageError(f"{_RULE_FLAGS[implied[0]]} belongs to the {implied[0]} "
                               f"rule, not --threshold-rule {rule}")
    if rule == "precision" and target_precision is None:
        raise click.UsageError("--threshold-rule precision needs --target-precision P")
    return {"threshold_rule": rule,
            "alert_rate": alert_rate if alert_rate is not None else DEFAULT_ALERT_RATE,
            "target_precision": target_precision,
            "review_cost": review_cost if review_cost is not None else DEFAULT_REVIEW_COST}


@click.command()
@click.option("--cutoff", callback=params.timestamp, metavar="ISO-TIME",
              help="Use labels that had arrived by this time (labeled_at <= cutoff) "
                   "[default: now, or the latest event time if simulated time is ahead].")
@click.option("--from", "start", callback=params.timestamp, metavar="ISO-TIME",
              help="First event time to train on, instead of --train-window "
                   "[default: the window's start].")
@click.option("--to", "end", callback=params.timestamp, metavar="ISO-TIME",
              help="Last event time to train and validate on [default: the cutoff].")
@click.option("--validation", callback=params.timedelta, metavar="TIME",
              help="Validation window: the newest labelled stretch of event time "
                   "[default: a quarter of the labelled span, at most 14d].")
@click.option("--gap", callback=params.timedelta, metavar="TIME",
              help="Event time left out between training and validation, as long as the "
                   "label delay [default: 7d, at most a tenth of the labelled span].")
@params.training_set_options
@threshold_rule_options
@click.option("--bootstrap", is_flag=True,
              help="Cold start: train on simulated history with the generator's own "
                   "labels instead of analyst labels; promoted if there is no champion.")
@click.option("--if-no-champion", is_flag=True,
              help="Do nothing (exit 0) when a champion exists: for start-up scripts such "
                   "as the compose stack's one-shot bootstrap.")
@click.option("--days", default=14.0, show_default=True, type=click.FloatRange(min=1),
              help="With --bootstrap: days of simulated history.")
@click.option("--cards", default=2000, show_default=True, type=click.IntRange(min=3),
              help="With --bootstrap: simulated cardholders.")
@click.option("--seed", default=0, show_default=True, help="LightGBM seed (training is "
              "deterministic for a seed and data).")
@click.option("--promote", "deploy", flag_value="promote",
              help="Make the new model the champion right away.")
@click.option("--shadow", "deploy", flag_value="shadow",
              help="Score with the new model in shadow right away.")
def train(cutoff: dt.datetime | None, start: dt.datetime | None, end: dt.datetime | None,
          validation: dt.timedelta | None, gap: dt.timedelta | None,
          threshold_rule: str | None, alert_rate: float | None,
          target_precision: float | None, review_cost: float | None, bootstrap: bool,
          if_no_champion: bool, days: float, cards: int, seed: int,
          deploy: str | None, training_set: dict[str, Any]) -> None:
    """Train a LightGBM model on stored features and labels, export it to ONNX, register it.

    The training set is features.model_input_v1 (what the scorer reads) joined to each
    transaction's label as known at --cutoff, from the label history, over the last
    --train-window of labelled event time. The newest labelled stretch validates, after
    a gap; early stopping uses the end of the training window. Above --max-train-rows
    training rows, legitimate ones are sampled (every fraud kept) and weighted back.
    Scores are Platt-scaled on the validation window (in the ONNX graph), so they read
    as probabilities. The ONNX export must take the same alert decisions as
    LightGBM, rank the validation rows the same way and stay within float32 rounding of
    its scores, or the model is not registered (the run is still recorded in
    ml.training_runs). A new model is a candidate until promoted (`pgfraud models
    promote V`) or shadowed.

    \b
    Examples:
      pgfraud train --bootstrap                  # fresh install: score from minute one
      pgfraud train --validation 7d --shadow     # challenger on analyst labels
      pgfraud train --train-window 0 --max-train-rows 0   # every label, every row
      pgfraud train --cutoff 2026-10-01 --target-precision 0.5
      pgfraud train --threshold-rule cost --review-cost 8
    """
    # LightGBM, ONNX and scikit-learn take a second to import: only this verb needs them.
    from pgfraud.lifecycle import bootstrap as cold_start
    from pgfraud.lifecycle import training

    rule = threshold_settings(threshold_rule, alert_rate, target_precision, review_cost)
    if start is not None:
        if "window" in training_set:
            raise click.UsageError("--from and --train-window both say where training "
                                   "starts; give one")
        training_set = {**training_set, "window": None}
    from pgfraud.kernel import migrate

    migrate.ensure_schema(announce=console.print)
    if if_no_champion:
        with connect(role=TRAINER_ROLE, autocommit=True) as conn:
            current = registry.champion(conn)
        if current is not None:
            click.echo(f"champion {current} exists; nothing to train (--if-no-champion)")
            return
    options = training.TrainOptions(validation=validation, gap=gap, seed=seed, **rule,
                                    **training_set)
    started = time.monotonic()
    with progress(f"simulating {days:g} days of history" if bootstrap else "loading features",
                  console=console, columns=spinner_columns()) as bar:

        def stage(text: str) -> None:
            bar.update(phase=text)

        if bootstrap:
            url = database_url()
            def simulated(n: int, at: dt.datetime) -> None:
                bar.update(done=n, event_time=at)

            data = cold_start.simulated_history(
                url, cold_start.BootstrapOptions(days=days, cards=cards), on_progress=simulated)
            mode, label_cutoff = "bootstrap", None
        else:
            with connect(role=TRAINER_ROLE, autocommit=True) as conn:
                label_cutoff = cutoff or training.default_cutoff(conn)
                data = training.load_training_data(
                    conn, options, cutoff=label_cutoff, start=start, end=end,
                    on_rows=lambda n: bar.update(done=n))
            mode = "labels"
        stage(f"training on {int(data.labelled.sum()):,} labelled transactions")
        trained = training.train(data, options, on_stage=stage)
        stage("registering")
        with connect(role=TRAINER_ROLE, autocommit=True) as conn:
            if bootstrap and deploy is None:
                deploy = "promote-if-none"
            version, run_id = registry.register(
                conn, trained, mode=mode, cutoff=label_cutoff, deploy=deploy,
                seconds=time.monotonic() - started,
                detail={"dataset_rows": len(data),
                        "training_set": trained.metrics["training_set"]})
            if version is None:
                parity = trained.metrics["parity"]
                problems = ([f"raw export: {p}" for p in parity["raw"]["problems"]]
                            + [f"calibrated: {p}" for p in parity["problems"]])
                raise click.ClickException(
                    f"the ONNX export does not match LightGBM on {parity['rows']:,} "
                    f"validation rows ({'; '.join(problems)}); the model was not "
                    f"registered (training run {run_id})")
            _print_card(registry.show(conn, version), registry.events(conn, version))
            deployed = registry.load(conn, version).status != "candidate"
    if not deployed:
        out.print(f"\nregistered as a candidate; next: pgfraud models promote {version} "
                  f"(or shadow {version})")


@click.group()
def models() -> None:
    """The model registry (ml.models): list, inspect, promote, shadow, retire, roll back.

    One champion decides; shadow models score the same transactions into the same table,
    flagged, without deciding. Every status change is recorded in ml.model_events and
    reaches running scorers within seconds.
    """


@models.command(name="list")
@click.option("--events", "n_events", default=10, show_default=True,
              type=click.IntRange(min=0), help="Also show this many recent status changes.")
def list_models(n_events: int) -> None:
    """Every registered model with its status, window and validation metrics."""
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        rows = registry.list_models(conn)
        history = registry.events(conn, limit=n_events) if n_events else []
    if not rows:
        out.print("no models yet; train one: pgfraud train --bootstrap")
        return
    table = Table(title="models", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("model", "status", "labels", "trained on", "AUC", "AP",
                   "CP@100", "threshold"):
        table.add_column(column, justify="right" if column in
                         ("model", "AUC", "AP", "CP@100", "threshold") else "left")
    for row in rows:
        validation = row["metrics"].get("validation", {})
        table.add_row(
            str(row["model_version"]), _status(row["status"]),
            {"labels": "analyst", "bootstrap": "simulated"}.get(row["mode"], "?"),
            _window(row["trained_from"], row["trained_to"]),
            _num(validation.get("roc_auc"), 3), _num(validation.get("average_precision"), 3),
            _num(validation.get("card_precision_at_100"), 3), f"{row['threshold']:.4f}")
    out.print(table)
    if history:
        _print_events(history)


@models.command()
@click.argument("version", type=int)
def show(version: int) -> None:
    """The model card: window, data, metrics, threshold, feature importances, history."""
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        _print_card(registry.show(conn, version), registry.events(conn, version))


@models.command()
@click.argument("version", type=int)
@click.option("--force", is_flag=True,
              help="Promote even if a gate fails (needs --reason; recorded with who and why).")
@click.option("--reason", metavar="TEXT", help="Why the gates are overridden (with --force).")
@click.option("--dry-run", is_flag=True, help="Show the evidence and the verdict; change nothing.")
@click.option("--label-delay", default="7d", show_default=True, callback=params.timedelta,
              metavar="TIME", help="Labels of transactions older than this count as matured.")
@params.gate_options
def promote(version: int, force: bool, reason: str | None, dry_run: bool,
            label_delay: dt.timedelta, gates: Gates) -> None:
    """Make VERSION the champion, if the evidence says it is better (the current
    champion is retired).

    The same gates as `pgfraud retrain` (docs/models.md): VERSION must rank, rest on
    enough frauds, not be far below the champion on its own validation, have scored live
    traffic in shadow for --min-shadow without collapsing, and beat the champion on the
    same transactions with --min-frauds matured frauds: the paired bootstrap's
    --confidence lower bound of the AP difference must exceed --margin. A failing gate
    refuses the promotion (exit status 1) unless --force --reason TEXT overrides it; the
    override is recorded in ml.retrain_decisions (rule "forced", who and why).

    \b
    Examples:
      pgfraud models promote 7 --dry-run
      pgfraud models promote 7 --force --reason "rollback drill, INC-1234"
    """
    from pgfraud.lifecycle import retrain as retraining

    if force and not (reason and reason.strip()):
        raise click.UsageError("--force needs --reason TEXT: the override is recorded with "
                               "who and why")
    options = retraining.RetrainOptions(label_delay=label_delay, gates=gates)
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        verdict, decision = retraining.promote_manually(conn, version, force=force,
                                                        reason=reason, options=options,
                                                        dry_run=dry_run)
    _print_evidence(verdict)
    if decision is not None:
        out.print(f"model {version} is the champion (decision {decision.decision_id}, rule "
                  f"{decision.rule})")
    elif dry_run:
        out.print(f"dry run: model {version} {'would be' if verdict.promote else 'would not be'}"
                  f" promoted")
    else:
        raise PgfraudError(f"refused: {verdict.detail} (rule {verdict.rule}); "
                           f"override with --force --reason TEXT")


@models.command()
@click.option("--window", default="1d", show_default=True, callback=params.timedelta,
              metavar="TIME", help="Event time of live scores to judge (ending at the event "
                                   "clock).")
@click.option("--max-score-psi", default=Gates().max_score_psi, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Score PSI against the champion's validation window that trips it.")
@click.option("--max-alert-ratio", default=Gates().max_alert_ratio, show_default=True,
              type=click.FloatRange(min=1),
              help="Live alert rate over the validation alert rate that trips it.")
def guard(window: dt.timedelta, max_score_psi: float, max_alert_ratio: float) -> None:
    """Check the champion's live scores now; past a bound, roll back to the previous
    champion (as `pgfraud retrain` does first in every round).

    Records a decision (trigger "guardrail") when a bound is broken, announced on channel
    pgfraud_decisions. Exit status 0 when the champion is healthy or was rolled back, 1
    when it breaks a bound and cannot be rolled back. Run it from cron between
    retraining rounds.
    """
    from pgfraud.lifecycle import retrain as retraining
    from pgfraud.lifecycle.training import default_cutoff

    gates = Gates(guard_window=window, max_score_psi=max_score_psi,
                  max_alert_ratio=max_alert_ratio)
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        champion = registry.champion(conn)
        if champion is None:
            raise PgfraudError("there is no champion to guard")
        cutoff = retraining.event_now(conn, default_cutoff(conn))
        status = retraining.health(conn, champion, shadow=False, start=cutoff - window,
                                   end=cutoff)
        decision = retraining.guard(conn, gates, cutoff=cutoff)
        breach = governance.judge_health(status, gates)
    out.print(f"champion {champion}: {status.predictions:,} live scores in the last "
              f"{window.total_seconds() / 3600:g} h of event time, score PSI "
              f"{_num(status.score_psi, 3)}, alert rate {_pct(status.alert_rate)} "
              f"(validation {_pct(status.reference_alert_rate)})")
    if status.predictions < gates.min_guard_predictions:
        out.print(f"too few scores to judge (< {gates.min_guard_predictions}); nothing done")
    elif decision is not None:
        out.print(f"[bold red]{escape(decision.detail)}[/]")
    elif breach is not None:
        raise PgfraudError(f"{breach.detail}; no earlier champion a guardrail may restore")
    else:
        out.print("healthy")


def _print_evidence(verdict: Verdict) -> None:
    evidence = verdict.evidence
    comparison = evidence.get("comparison")
    if comparison:
        out.print(f"paired comparison: {comparison['rows']:,} transactions, "
                  f"{comparison['frauds']} matured frauds; AP challenger "
                  f"{_num(comparison['challenger_ap'])} vs champion "
                  f"{_num(comparison['champion_ap'])}; difference "
                  f"{_num(comparison['difference'])}, {comparison['confidence']:.0%} lower "
                  f"bound {_num(comparison['lower'])} ({comparison['resamples']} resamples)",
                  soft_wrap=True)
    if "shadow_days" in evidence:
        out.print(f"shadow: {evidence['shadow_days']:.2f} days of live scores "
                  f"(needs {evidence['min_shadow_days']:g})", soft_wrap=True)
    style = "green" if verdict.promote else "red"
    out.print(f"gate: [{style}]{escape(verdict.rule)}[/] {escape(verdict.detail)}", soft_wrap=True)


@models.command(name="shadow")
@click.argument("version", type=int)
def shadow_model(version: int) -> None:
    """Score with VERSION in shadow: predictions flagged is_shadow, never alerts."""
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        registry.shadow(conn, version)
    out.print(f"model {version} scores in shadow")


@models.command()
@click.argument("version", type=int)
def retire(version: int) -> None:
    """Stop scoring with VERSION (a candidate or shadow model)."""
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        registry.retire(conn, version)
    out.print(f"model {version} is retired")


@models.command()
def rollback() -> None:
    """Return to the previous champion; the current one is retired.

    Rolling back again goes one champion further back.
    """
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        current = registry.champion(conn)
        version = registry.rollback(conn)
    out.print(f"model {version} is the champion again (model {current} retired)")


def _print_card(info: dict[str, Any], history: list[dict[str, Any]]) -> None:
    metrics = info["metrics"]
    validation = metrics.get("validation", {})
    train_metrics = metrics.get("train", {})
    rule_text = _rule_text(metrics.get("threshold_rule", {}))
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("model", f"{info['model_version']} ({_status(info['status'])}, "
                   f"{info['algorithm']}, {info['mode'] or 'unknown'} training)")
    header.add_row("training window",
                   f"{_time(info['trained_from'])} .. {_time(info['trained_to'])} "
                   f"({_count(info['train_rows'])} labelled, "
                   f"{_count(info['train_positives'])} fraud)")
    header.add_row("validation window",
                   f"{_time(info['validation_from'])} .. {_time(info['validation_to'])} "
                   f"({_count(info['validation_rows'])} labelled, "
                   f"{_count(info['validation_positives'])} fraud)")
    header.add_row("labels known by", _time(info["label_cutoff_at"]) if info["label_cutoff_at"]
                   else "n/a (simulated history, generator labels)")
    header.add_row("features", f"set {info['feature_set_version']}, "
                   f"{len(info['feature_names'])} columns of features.model_input_v1")
    header.add_row("threshold", f"{info['threshold']:.6f} ({rule_text} on validation)")
    ranking = metrics.get("can_rank") or {}
    header.add_row("scores", f"{_count(validation.get('distinct_scores'))} distinct on "
                   f"validation from {metrics.get('trees', '?')} trees"
                   + (f" ({ranking['required']:,} required to rank)" if ranking else ""))
    header.add_row("calibration", _calibration_text(metrics.get("calibration")))
    parity = metrics.get("parity", {})
    header.add_row("ONNX", f"{info['onnx_size']:,} bytes, sha256 {info['onnx_sha256'][:16]}…, "
                   + _parity_text(parity))
    header.add_row("created", plain(f"{info['created_at']:%Y-%m-%d %H:%M:%S %Z} by "
                                    f"{info['created_by'] or '?'}"))
    out.print(header)
    if ranking and not ranking.get("ok", True):
        out.print(f"[bold yellow]warning:[/] this model cannot rank: "
                  f"{ranking['distinct_scores']:,} distinct validation scores, "
                  f"{ranking['required']:,} required ({ranking['trees']} trees)")

    table = Table(title="validation metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("validation", justify="right")
    table.add_column("train", justify="right")
    rows = [("ROC AUC", "roc_auc"), ("average precision", "average_precision"),
            ("AP of a random ranking", "random_average_precision"),
            ("precision @ threshold", "precision"), ("recall @ threshold", "recall"),
            ("F1 @ threshold", "f1"), ("card precision@100 (daily mean)",
                                       "card_precision_at_100")]
    for label, key in rows:
        table.add_row(label, _num(validation.get(key)), _num(train_metrics.get(key)))
    table.add_row("alerts", f"{validation.get('alerts', 0):,} "
                  f"({_pct(validation.get('alert_rate'))} of "
                  f"{validation.get('rows', 0):,})", "")
    if validation.get("fraud_amount") is not None:
        table.add_row("value detected (fraud amount alerted)",
                      f"{_pct(validation.get('value_detected'))} "
                      f"({validation['fraud_amount_alerted']:,.2f} of "
                      f"{validation['fraud_amount']:,.2f})", "")
    out.print(table)

    importance = sorted(info["feature_importance"].items(), key=lambda p: -p[1])[:12]
    if importance:
        bars = Table(title="feature importance (share of total gain)", title_justify="left",
                     show_header=False, box=None)
        bars.add_column(justify="right")
        bars.add_column()
        bars.add_column(justify="right")
        top = importance[0][1] or 1.0
        for name, share in importance:
            bars.add_row(plain(name), "█" * max(1, round(30 * share / top)), f"{share:.1%}")
        out.print(bars)
    if history:
        _print_events(history)


def _rule_text(rule: dict[str, Any]) -> str:
    if rule.get("rule") == "cost":
        return (f"lowest expected cost at {rule['review_cost']:g} a review: "
                f"{rule['expected_cost']:,.2f} = {rule['alerts']:,} reviews + "
                f"{rule['missed_fraud_amount']:,.2f} fraud missed")
    if "alert_rate" in rule:
        return f"alert rate {rule['alert_rate']:.2%}"
    return f"precision >= {rule.get('target_precision', 0):g}"


def _calibration_text(calibration: dict[str, Any] | None) -> str:
    if not calibration:
        return "none recorded (raw scores)"
    brier = (f"Brier {_num(calibration.get('brier_raw'))} raw → "
             f"{_num(calibration.get('brier'))} on validation")
    if calibration.get("method") == "platt":
        return (f"Platt, p' = sigmoid({calibration['a']:.3f} logit(p) "
                f"{calibration['b']:+.3f}); {brier}")
    return f"none ({plain(calibration.get('reason', '?'))}); {brier}"


def _parity_text(parity: dict[str, Any]) -> str:
    text = (f"max |LightGBM - ONNX| {parity.get('max_abs_diff', float('nan')):.1e} "
            f"(tolerance {parity.get('tolerance', float('nan')):.1e})")
    if "rank_correlation" in parity:
        text += (f", rank correlation {parity['rank_correlation']:.6f}, "
                 f"{parity.get('decision_flips', 0)} decisions differ")
    return text


def _print_events(history: list[dict[str, Any]]) -> None:
    table = Table(title="status history (newest first)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("at", "model", "action", "status", "by"):
        table.add_column(column)
    for event in history:
        change = (f"{event['old_status']} → {event['new_status']}" if event["old_status"]
                  else event["new_status"])
        table.add_row(f"{event['at']:%Y-%m-%d %H:%M:%S}", str(event["model_version"]),
                      plain(event["action"]), plain(change), plain(event["by"]))
    out.print(table)


def _status(status: str) -> str:
    return {"champion": "[bold green]champion[/]", "shadow": "[cyan]shadow[/]",
            "retired": "[dim]retired[/]"}.get(status, escape(printable(status)))


def _num(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.2%}"


def _count(value: Any) -> str:
    return "?" if value is None else f"{value:,}"


def _date(value: dt.datetime | None) -> str:
    return "?" if value is None else f"{value:%Y-%m-%d}"


def _window(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "?"
    return f"{start:%Y-%m-%d} → {end:{'%m-%d' if start.year == end.year else '%Y-%m-%d'}}"


def _time(value: dt.datetime | None) -> str:
    return "?" if value is None else f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


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
    from pgfraud.lifecycle import retrain as retraining
    from pgfraud.lifecycle import training

    rule = threshold_settings(threshold_rule, alert_rate, target_precision, review_cost)
    options = retraining.RetrainOptions(min_new_labels=min_labels, margin=gates.margin,
                                        label_delay=label_delay,
                                        drift_threshold=drift_threshold,
                                        drift_window=drift_window,
                                        force=not auto,
                                        train=training.TrainOptions(**rule, **training_set),
                                        gates=gates)
    with connect(role=TRAINER_ROLE, autocommit=True) as conn:
        decision = retraining.retrain(conn, options, on_stage=lambda s: console.print(s))
    for each in [*decision.earlier, decision]:
        click.echo(f"decision {each.decision_id}: {each.outcome} "
                   f"({each.trigger_reason}, {each.new_labels:,} new labels)"
                   + (f"; challenger {each.challenger}" if each.challenger else "")
                   + f" [{each.rule}]: {each.detail}")
