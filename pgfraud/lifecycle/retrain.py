"""Retraining: train a challenger when enough new labels arrived or the champion's inputs
drifted, let it score live traffic in shadow, and promote it only on evidence.

One call of :func:`retrain` is one round of the loop (``pgfraud retrain``; the replay runs
one per simulated week):

1. **Guardrail.** The serving champion's live scores over the last day of event time
   are checked against its validation window (score PSI, alert rate); a promoted
   champion that breaks them is rolled back to the previous one (``rolled_back``).
2. **A challenger in shadow is judged** on its own live scores next to the champion's,
   same transactions, labels matured (at least ``label_delay`` old): minimum shadow
   period, minimum frauds, then a paired bootstrap of the AP difference whose lower bound
   must clear the margin (:mod:`pgfraud.lifecycle.governance`). While it is still gathering
   evidence nothing new is trained; a challenger that lost, collapsed, or waited longer
   than ``max_shadow`` is retired, and the round goes on to train a new one.
3. **Trigger.** New labels since the last training, drift of the champion's inputs
   (largest PSI of ``ml.feature_drift`` over ``drift_window``), or ``force``.
4. **Train and gate the candidate**: parity, ranking, training frauds, its own
   validation against the champion's. A candidate that passes goes to shadow (or
   becomes champion when there is none); one that fails is retired at once.

Every decision, including "not triggered", is recorded in ``ml.retrain_decisions`` with
the rule that decided it, a sentence with its numbers and the evidence as JSON, and is
announced on channel ``pgfraud_decisions``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from pgfraud.kernel import queries
from pgfraud.kernel.card_numbers import mask_card_numbers
from pgfraud.kernel.names import DRIFT_PSI_THRESHOLD
from pgfraud.lifecycle import governance, metrics, registry, training
from pgfraud.lifecycle.governance import Gates, Verdict
from scorer.onnx_model import OnnxModel

log = logging.getLogger(__name__)


def _q(name: str) -> str:
    return queries.load("retrain")[name]


@dataclasses.dataclass(frozen=True)
class RetrainOptions:
    min_new_labels: int = 500
    margin: float = 0.0                       # average-precision points to gain
    drift_threshold: float = DRIFT_PSI_THRESHOLD  # max PSI that triggers retraining
    drift_window: dt.timedelta = dt.timedelta(days=7)  # whole weeks: day_of_week
    label_delay: dt.timedelta = dt.timedelta(days=7)
    force: bool = False
    # How a challenger trains, its window and row cap included (TrainOptions.window,
    # max_rows): the defaults apply to every round that does not say otherwise.
    train: training.TrainOptions = dataclasses.field(default_factory=training.TrainOptions)
    gates: Gates | None = None                # None: Gates() with this margin

    @property
    def rules(self) -> Gates:
        return self.gates or Gates(margin=self.margin)


@dataclasses.dataclass
class Decision:
    decision_id: int
    outcome: str                     # promoted | kept_champion | skipped | rolled_back
    trigger_reason: str
    new_labels: int
    champion: int | None
    challenger: int | None
    champion_ap: float | None = None
    challenger_ap: float | None = None
    evaluated_rows: int = 0
    detail: str = ""
    rule: str | None = None
    at: dt.datetime | None = None    # event time decided as of (ml.retrain_decisions.event_at)
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    earlier: list[Decision] = dataclasses.field(default_factory=list)  # same round


class _Round:
    """The bookkeeping of one round: the record every decision row starts from."""

    def __init__(self, conn: psycopg.Connection[Any], options: RetrainOptions,
                 cutoff: dt.datetime) -> None:
        self.conn, self.options, self.cutoff = conn, options, cutoff
        self.decisions: list[Decision] = []
        row = conn.execute(_q("new_labels"), {"cutoff": cutoff}).fetchone()
        self.new_labels = int(row[0]) if row else 0
        self.record: dict[str, Any] = {
            "new_labels": self.new_labels, "min_new_labels": options.min_new_labels,
            "champion_version": registry.champion(conn), "challenger_version": None,
            "evaluated_from": None, "evaluated_to": None, "evaluated_rows": None,
            "evaluated_positives": None, "champion_metrics": None,
            "challenger_metrics": None, "margin": options.rules.margin, "max_psi": None,
            "max_psi_feature": None, "event_at": event_now(conn, cutoff)}

    @property
    def champion(self) -> int | None:
        return self.record["champion_version"]

    def decide(self, reason: str, outcome: str, verdict: Verdict, **changes: Any) -> Decision:
        record = {**self.record, **changes}
        decision = _record(self.conn, record, reason, outcome, verdict.detail,
                           rule=verdict.rule, evidence=verdict.evidence)
        decision.earlier = list(self.decisions)
        self.decisions.append(decision)
        log.log(logging.ERROR if verdict.rule == "parity_failed" else logging.INFO,
                "retrain decision %s: %s (%s)", decision.decision_id, verdict.detail,
                verdict.rule)
        return decision


def retrain(conn: psycopg.Connection[Any], options: RetrainOptions = RetrainOptions(), *,
            cutoff: dt.datetime | None = None,
            on_stage: Callable[[str], None] = lambda s: None) -> Decision:
    """One round of the loop. ``conn``: autocommit, as the trainer (or the owner).

    Returns the round's last decision; ``.earlier`` holds the ones before it (a guardrail
    or a judged challenger, say).
    """
    cutoff = cutoff or training.default_cutoff(conn)
    gates = options.rules
    on_stage("checking the champion's live scores")
    guarded: list[Decision] = []
    rolled_back = guard(conn, gates, cutoff=event_now(conn, cutoff), recorded=guarded)
    if rolled_back is not None:
        return rolled_back
    round_ = _Round(conn, options, cutoff)
    round_.decisions.extend(guarded)  # a breach without fallback: the round's first word

    pending = [v for (v,) in conn.execute(_q("previous_challengers")).fetchall()]
    for challenger in pending:
        on_stage(f"judging challenger {challenger} on its live shadow scores")
        decision = judge_challenger(round_, challenger)
        if decision.outcome == "promoted" or decision.rule in governance.GATHERING:
            return decision  # nothing new is trained while a challenger gathers evidence

    champion = round_.champion
    if champion is not None:
        drift = conn.execute(_q("largest_drift"), {
            "model": champion, "from": cutoff - options.drift_window, "to": cutoff}).fetchone()
        if drift is not None and drift[1] is not None:
            round_.record["max_psi_feature"], round_.record["max_psi"] = drift[0], float(drift[1])
    max_psi = round_.record["max_psi"]
    drifted = max_psi is not None and max_psi > options.drift_threshold
    if options.force:
        reason = "forced"
    elif round_.new_labels >= options.min_new_labels:
        reason = "new_labels"
    elif drifted:
        reason = "drift"
    else:
        psi = ("no drift measured" if max_psi is None else
               f"largest PSI {max_psi:.3f} ({round_.record['max_psi_feature']}) <= "
               f"{options.drift_threshold:g}")
        return round_.decide("not_triggered", "skipped", Verdict(
            False, "not_triggered",
            f"{round_.new_labels} new labels since the last training, fewer than "
            f"{options.min_new_labels}; {psi}"))

    on_stage("loading features and labels")
    began = time.monotonic()
    data = training.load_training_data(conn, options.train, cutoff=cutoff)
    loaded = time.monotonic() - began
    try:
        trained = training.train(data, options.train, on_stage=on_stage)
    except training.TrainingError as exc:
        return round_.decide(reason, "skipped", Verdict(
            False, "training_refused", f"training refused: {exc}",
            _training_evidence(data, None, loaded, time.monotonic() - began)))
    spent = _training_evidence(data, trained, loaded, time.monotonic() - began)
    challenger, run_id = registry.register(
        conn, trained, mode="labels", cutoff=cutoff, seconds=spent["training_seconds"],
        detail={"dataset_rows": len(data), "training_set": spent["training_set"]})
    spent["training_run_id"] = run_id
    if challenger is None:
        parity = trained.metrics.get("parity", {})
        return round_.decide(reason, "skipped", Verdict(
            False, "parity_failed",
            f"the challenger failed its ONNX parity check (training run {run_id}): "
            f"{_describe_parity(parity)}; it was not registered, the champion serves on",
            {"parity": parity, **spent}))
    round_.record["challenger_version"] = challenger

    on_stage("comparing challenger and champion on matured labels")
    offline = _offline_comparison(conn, round_, data, trained)
    champion_card = _card(conn, champion) if champion is not None else None
    refusal = governance.judge_candidate(trained.metrics, champion_card, gates)
    if refusal is not None:
        registry.retire(conn, challenger)
        return round_.decide(reason, "kept_champion",
                             _with(refusal, offline=offline, **spent),
                             **_offline_record(offline))
    if champion is None:
        registry.promote(conn, challenger)
        return round_.decide(reason, "promoted", Verdict(
            True, "no_champion",
            f"promoted challenger {challenger}: there was no champion "
            f"(its own validation AP {_ap(trained.metrics)})", {"offline": offline, **spent}),
            **_offline_record(offline))
    registry.shadow(conn, challenger)
    verdict = Verdict(False, "shadow_period",
                      f"kept champion: challenger {challenger} entered shadow; promotion "
                      f"needs {gates.min_shadow.total_seconds() / 86_400:g} days of its own "
                      f"live scores and {gates.min_frauds} matured frauds "
                      f"(offline on its validation window: {_offline_text(offline)})",
                      {"offline": offline, **spent})
    decision = round_.decide(reason, "kept_champion", verdict, **_offline_record(offline))
    decision.champion_ap = offline.get("champion", {}).get("average_precision")
    decision.challenger_ap = offline.get("challenger", {}).get("average_precision")
    decision.evaluated_rows = int(offline.get("rows") or 0)
    return decision


def assess(conn: psycopg.Connection[Any], challenger: int, champion: int | None,
           options: RetrainOptions, *, cutoff: dt.datetime,
           candidate_gates: bool = False) -> tuple[Verdict, dict[str, Any]]:
    """Every gate a model must pass to replace ``champion`` now, without changing
    anything: (the deciding verdict, the decision row's evaluation columns).

    ``candidate_gates``: also the gates on the model's own card (the retrain round ran
    them at training time; ``pgfraud models promote`` runs them all).
    """
    gates = options.rules
    changes: dict[str, Any] = {"challenger_version": challenger}
    if champion is None:
        return Verdict(True, "no_champion", f"model {challenger} may serve: there is no "
                       "champion"), changes
    if candidate_gates:
        refusal = governance.judge_candidate(_card(conn, challenger), _card(conn, champion),
                                             gates)
        if refusal is not None:
            return refusal, changes
    (since,) = conn.execute(_q("shadow_since"), {"challenger": challenger}).fetchone() or (None,)
    now = event_now(conn, cutoff)
    shadow = max(now - since, dt.timedelta(0)) if since is not None else dt.timedelta(0)
    collapse = governance.judge_health(
        health(conn, challenger, shadow=True, start=now - gates.guard_window, end=now), gates)
    if collapse is not None:
        return Verdict(False, "shadow_collapse", f"kept champion: challenger {challenger} "
                       f"in shadow: {collapse.detail}", collapse.evidence), changes
    matured_to = cutoff - options.label_delay
    rows = conn.execute(_q("paired_live_scores"), {
        "champion": champion, "challenger": challenger, "cutoff": cutoff,
        "matured_to": matured_to}).fetchall()
    comparison = None
    if rows:
        scores = np.asarray(rows, dtype=np.float64)
        comparison = governance.paired_bootstrap_ap(
            scores[:, 2], scores[:, 1], scores[:, 0], resamples=gates.resamples,
            confidence=gates.confidence, seed=gates.seed)
        changes.update({
            "evaluated_from": since, "evaluated_to": matured_to, "evaluated_rows": len(rows),
            "evaluated_positives": comparison.frauds,
            "challenger_metrics": Jsonb(_live_metrics(scores[:, 2], scores[:, 1])),
            "champion_metrics": Jsonb(_live_metrics(scores[:, 2], scores[:, 0]))})
    verdict = governance.judge_evidence(comparison, shadow, gates, challenger=challenger)
    if verdict.gathering and shadow > gates.max_shadow:
        verdict = Verdict(False, "shadow_expired",
                          f"kept champion: no verdict on challenger {challenger} after "
                          f"{shadow.total_seconds() / 86_400:.1f} days in shadow > "
                          f"{gates.max_shadow.total_seconds() / 86_400:g} "
                          f"({verdict.detail})", verdict.evidence)
    return verdict, changes


def judge_challenger(round_: _Round, challenger: int) -> Decision:
    """Judge a challenger in shadow on its live scores (:func:`assess`): promote it, keep
    it gathering evidence, or retire it (it lost, collapsed, or waited past
    ``max_shadow``)."""
    verdict, changes = assess(round_.conn, challenger, round_.champion, round_.options,
                              cutoff=round_.cutoff)
    if verdict.promote:
        registry.promote(round_.conn, challenger)
        outcome = "promoted"
    else:
        if not verdict.gathering:
            registry.retire(round_.conn, challenger)
        outcome = "kept_champion"
    decision = round_.decide("shadow_evidence", outcome, verdict, **changes)
    comparison = verdict.evidence.get("comparison") or {}
    decision.champion_ap = comparison.get("champion_ap")
    decision.challenger_ap = comparison.get("challenger_ap")
    decision.evaluated_rows = int(comparison.get("rows") or 0)
    return decision


def promote_manually(conn: psycopg.Connection[Any], version: int, *, force: bool,
                     reason: str | None, options: RetrainOptions = RetrainOptions(),
                     cutoff: dt.datetime | None = None,
                     dry_run: bool = False) -> tuple[Verdict, Decision | None]:
    """``pgfraud models promote``: every gate (:func:`assess`), then promote if they pass
    or ``force`` overrides them (recorded as rule ``forced`` with who and why).

    Returns the gates' verdict and the decision (None when refused or ``dry_run``).
    """
    cutoff = cutoff or training.default_cutoff(conn)
    round_ = _Round(conn, options, cutoff)
    if round_.champion == version:
        raise registry.RegistryError(f"model {version} is already the champion")
    registry.load(conn, version)  # exists?
    verdict, changes = assess(conn, version, round_.champion, options, cutoff=cutoff,
                              candidate_gates=True)
    if dry_run or not (verdict.promote or force):
        return verdict, None
    reason = mask_card_numbers(reason or "")  # the decision may hold no card number
    registry.promote(conn, version)
    if verdict.promote:
        decided = verdict
    else:
        decided = Verdict(True, "forced",
                          f"promoted model {version} by force, overriding the "
                          f"{verdict.rule} gate ({verdict.detail}); reason: {reason}",
                          {**verdict.evidence, "overridden_rule": verdict.rule,
                           "reason": reason})
    return verdict, round_.decide("manual", "promoted", decided, **changes)


def guard(conn: psycopg.Connection[Any], gates: Gates, *,
          cutoff: dt.datetime, recorded: list[Decision] | None = None) -> Decision | None:
    """The guardrail on the serving champion over ``gates.guard_window`` of event time
    ending at ``cutoff`` (an event time: :func:`event_now`): past a bound, restore the
    previous champion and record it (``rolled_back``). Returns that decision, or None
    when nothing broke. Every decision it records is also appended to ``recorded``.

    Only a champion that was *promoted* is rolled back; one that a rollback restored is
    never rolled back again by a guardrail (no ping-pong): its breach is recorded as
    ``guardrail_no_fallback``, loud but without a status change.
    """
    champion = registry.champion(conn)
    if champion is None:
        return None
    breach = governance.judge_health(
        health(conn, champion, shadow=False, start=cutoff - gates.guard_window, end=cutoff),
        gates)
    if breach is None:
        return None
    (how, _), = conn.execute(_q("champion_since"), {"model": champion}).fetchall() or [
        (None, None)]
    round_ = _Round(conn, RetrainOptions(gates=gates), cutoff)
    if how == "promote":
        try:
            previous = registry.rollback(conn)
        except registry.RegistryError:
            previous = None
        if previous is not None:
            verdict = Verdict(False, breach.rule, f"rolled back to model {previous}: "
                              f"{breach.detail}", breach.evidence)
            decision = round_.decide("guardrail", "rolled_back", verdict,
                                     challenger_version=previous)
            log.error("guardrail: %s", verdict.detail)
            if recorded is not None:
                recorded.append(decision)
            return decision
    verdict = Verdict(False, "guardrail_no_fallback",
                      f"champion {champion} breaks a guardrail and has no earlier champion "
                      f"a guardrail may restore: {breach.detail}", breach.evidence)
    log.error("guardrail: %s", verdict.detail)
    loud = round_.decide("guardrail", "kept_champion", verdict)
    if recorded is not None:
        recorded.append(loud)
    return None


def event_now(conn: psycopg.Connection[Any], cutoff: dt.datetime) -> dt.datetime:
    """The end of event-time windows (shadow period, guardrails) as of ``cutoff``: the
    event clock, or the cutoff if earlier. Labels mature against the cutoff itself."""
    row = conn.execute(_q("event_now"), {"cutoff": cutoff}).fetchone()
    return row[0] if row and row[0] is not None else cutoff


def health(conn: psycopg.Connection[Any], model: int, *, shadow: bool, start: dt.datetime,
           end: dt.datetime) -> governance.Health:
    """``ml.serving_health`` of one model over an event-time window."""
    row = conn.execute(_q("serving_health"), {"model": model, "shadow": shadow,
                                              "from": start, "to": end}).fetchone()
    predictions, psi, rate, reference = row or (0, None, None, None)
    return governance.Health(model, int(predictions or 0), psi, rate, reference)


def _card(conn: psycopg.Connection[Any], model: int) -> dict[str, Any]:
    row = conn.execute(_q("model_card"), {"model": model}).fetchone()
    return dict(row[0]) if row and row[0] else {}


def _offline_comparison(conn: psycopg.Connection[Any], round_: _Round,
                        data: training.Dataset,
                        trained: training.TrainedModel) -> dict[str, Any]:
    """Both models on the challenger's validation window (matured labels where there are
    enough): information for the decision row, never the promotion itself."""
    cutoff, options = round_.cutoff, round_.options
    matured_to = min(trained.split.validation_to,
                     cutoff.timestamp() - options.label_delay.total_seconds())
    window = data.labelled & (data.times >= trained.split.validation_from)
    matured = window & (data.times <= matured_to)
    if not np.nansum(data.labels[matured]):
        matured, matured_to = window, trained.split.validation_to
    rows = data.subset(matured)
    workers = options.train.threads
    scores = {"challenger": OnnxModel(trained.onnx_bytes).predict(rows.features,
                                                                  workers=workers)}
    if round_.champion is not None:
        stored = registry.load(conn, round_.champion)
        columns = [data.feature_names.index(n) for n in stored.feature_names]
        scores["champion"] = OnnxModel(stored.onnx_bytes).predict(rows.features[:, columns],
                                                                  workers=workers)
    result: dict[str, Any] = {name: _live_metrics(rows.labels, s) for name, s in scores.items()}
    result.update({"from": _utc(trained.split.validation_from).isoformat(),
                   "to": _utc(matured_to).isoformat(), "rows": len(rows),
                   "frauds": int(np.nansum(rows.labels))})
    return result


def _training_evidence(data: training.Dataset, trained: training.TrainedModel | None,
                       load_seconds: float, seconds: float) -> dict[str, Any]:
    """What a training cost, for the decision's evidence: ``training_seconds`` (load,
    fit, export, calibration and evaluation), the rows loaded and the training set
    (window and sampling, ``metrics.training_set``; None when training refused)."""
    return {"training_seconds": round(seconds, 3), "load_seconds": round(load_seconds, 3),
            "dataset_rows": len(data), "labelled_rows": int(data.labelled.sum()),
            "training_set": None if trained is None else trained.metrics["training_set"]}


def _offline_record(offline: dict[str, Any]) -> dict[str, Any]:
    return {"evaluated_from": dt.datetime.fromisoformat(offline["from"]),
            "evaluated_to": dt.datetime.fromisoformat(offline["to"]),
            "evaluated_rows": offline["rows"], "evaluated_positives": offline["frauds"],
            "challenger_metrics": Jsonb(offline["challenger"]),
            "champion_metrics": Jsonb(offline["champion"]) if "champion" in offline else None}


def _offline_text(offline: dict[str, Any]) -> str:
    challenger = offline["challenger"].get("average_precision")
    champion = offline.get("champion", {}).get("average_precision")
    return (f"AP {_fmt(challenger)} vs champion {_fmt(champion)} on {offline['rows']:,} "
            f"transactions with {offline['frauds']} frauds")


def _live_metrics(y: Any, score: Any) -> dict[str, float | None]:
    return {"average_precision": metrics.finite(metrics.average_precision(y, score)),
            "roc_auc": metrics.finite(metrics.roc_auc(y, score))}


def _with(verdict: Verdict, **evidence: Any) -> Verdict:
    return dataclasses.replace(verdict, evidence={**verdict.evidence, **evidence})


def _ap(card: dict[str, Any]) -> str:
    return _fmt((card.get("validation") or {}).get("average_precision"))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _describe_parity(parity: dict[str, Any]) -> str:
    problems = [*parity.get("problems", []), *(parity.get("raw") or {}).get("problems", [])]
    return "; ".join(dict.fromkeys(problems)) or "no parity numbers recorded"


def _record(conn: psycopg.Connection[Any], record: dict[str, Any], reason: str,
            outcome: str, detail: str, *, rule: str | None = None,
            evidence: dict[str, Any] | None = None) -> Decision:
    row = conn.execute(_q("record_decision"), {
        **record, "trigger_reason": reason, "outcome": outcome, "detail": detail,
        "rule": rule, "evidence": Jsonb(_jsonable(evidence or {}))}).fetchone()
    assert row is not None
    return Decision(int(row[0]), outcome, reason, record["new_labels"],
                    record["champion_version"], record["challenger_version"], detail=detail,
                    rule=rule, at=record.get("event_at"),
                    evidence=_jsonable(evidence or {}))


def _jsonable(value: Any) -> Any:
    """NaN and datetimes out of a dict headed for jsonb."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return metrics.finite(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)
