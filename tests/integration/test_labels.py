"""The feedback loop: labelling (SQL and CLI), the audit trail, the review queue,
simulated analysts, retraining decisions and the replay backtest."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from sklearn.metrics import average_precision_score, roc_auc_score

from pgfraud.backtest import replay as replay_module
from pgfraud.backtest.replay import ReplayOptions, replay
from pgfraud.kernel import queries
from pgfraud.kernel.db import connect
from pgfraud.kernel.names import ANALYST_ROLE, TRAINER_ROLE
from pgfraud.labels.analysts import AnalystOptions, simulate_analysts
from pgfraud.lifecycle import registry, training
from pgfraud.lifecycle.retrain import RetrainOptions, retrain
from pgfraud.lifecycle.training import FAR_PAST
from producer.cards import Tokenizer
from scorer.scoring import Scorer
from tests.conftest import Databases
from tests.history import label_from_truth, produce, quick_model
from tests.reference_metrics import psi

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))


def pgfraud(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": "k" * 32, "COLUMNS": "160"}
    return subprocess.run([PGFRAUD, *args], env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def scored(databases: Databases) -> str:
    """Three days of traffic scored by a champion (no shadow)."""
    url = databases.create()
    produce(url, days=3, cards=300)
    quick_model(url, status="champion")
    with Scorer(url) as scorer:
        scorer.run(lambda: False, once=True)
    return url


@pytest.fixture
def db(databases: Databases, scored: str) -> str:
    return databases.clone(scored)


def test_audit_rows_are_exact_for_1000_random_edits(db: str) -> None:
    """One audit row per change of value or note, none for an edit that changes nothing."""
    with psycopg.connect(db) as conn:
        ids = [i for (i,) in conn.execute("select transaction_id from scoring.predictions "
                                          "order by 1 limit 200")]
    rng = random.Random(3)
    expected: list[tuple[int, bool | None, bool | None, str | None, str | None]] = []
    state: dict[int, tuple[bool | None, str | None]] = dict.fromkeys(ids, (None, None))
    with connect(db, role=ANALYST_ROLE) as conn:
        for _ in range(1000):
            tx = rng.choice(ids)
            value = rng.choice([True, False, None])
            note = rng.choice([None, "chargeback", "cardholder called"])
            conn.execute("update scoring.predictions set true_value = %s, label_note = %s "
                         "where transaction_id = %s", (value, note, tx))
            if state[tx] != (value, note):
                expected.append((tx, state[tx][0], value, state[tx][1], note))
                state[tx] = (value, note)
            conn.commit()
        user = conn.execute("select session_user").fetchone()
    with psycopg.connect(db) as conn:
        events = conn.execute(
            "select transaction_id, old_value, new_value, old_note, label_note, labeled_by, "
            "labeled_at, recorded_by from scoring.label_events order by label_event_id"
        ).fetchall()
        current = {r[0]: (r[1], r[2]) for r in conn.execute(
            "select transaction_id, true_value, label_note from scoring.predictions "
            "where transaction_id = any(%s)", (ids,)).fetchall()}
    assert [e[:5] for e in events] == expected
    assert len(expected) < 1000  # some edits changed nothing, and left no row
    assert user is not None and all(e[5] == e[7] == user[0] for e in events)
    assert all(e[6] is not None for e in events)
    assert current == state
    # The audit trail cannot be rewritten by the analyst.
    with connect(db, role=ANALYST_ROLE) as conn:
        for statement in ("update scoring.label_events set new_value = null",
                          "delete from scoring.label_events",
                          "update scoring.labels set true_value = true",
                          "insert into scoring.labels (transaction_id, updated_at) "
                          "values (1, now())",
                          "update scoring.predictions set labeled_at = now()",
                          "update scoring.predictions set score = 0"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_label_command_single_csv_and_unknown_ids(db: str, tmp_path: Path) -> None:
    with psycopg.connect(db) as conn:
        rows = conn.execute("select p.transaction_id, t.trans_num from scoring.predictions p "
                            "join ingest.transactions t using (transaction_id) "
                            "order by 1 limit 4").fetchall()
    (a, _), (b, b_num), (c, c_num), (d, _) = rows
    one = pgfraud("label", str(a), "fraud", "--note", "cardholder confirmed", url=db)
    assert one.returncode == 0, one.stderr
    assert "1 new" in one.stdout
    csv = tmp_path / "labels.csv"
    csv.write_text(f"trans_num,label,note\n{b_num},legit,\n{c_num},fraud,chargeback\n")
    many = pgfraud("label", "--csv", str(csv), url=db)
    assert many.returncode == 0, many.stderr
    assert "2 new" in many.stdout and "1 fraud" in many.stdout
    again = pgfraud("label", str(a), "legit", url=db)
    assert "1 changed" in again.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(f"transaction_id,label\n{d},fraud\n999999999,fraud\n")
    refused = pgfraud("label", "--csv", str(bad), url=db)
    assert refused.returncode == 1
    assert "unknown transaction(s): 999999999" in refused.stderr
    assert "nothing was labelled" in refused.stderr
    with psycopg.connect(db) as conn:
        labels: dict[int, bool | None] = dict(conn.execute(
            "select transaction_id, true_value from scoring.predictions "
            "where transaction_id = any(%s)", ([a, b, c, d],)).fetchall())
        note = conn.execute("select label_note from scoring.predictions where transaction_id "
                            "= %s", (c,)).fetchone()
    assert labels == {a: False, b: False, c: True, d: None}
    assert note == ("chargeback",)
    assert pgfraud("label", str(d), "maybe", url=db).returncode != 0


def test_review_queue_lists_unlabelled_alerts_by_score(db: str) -> None:
    with connect(db, role=ANALYST_ROLE) as conn:
        queue = conn.execute("select transaction_id, score, reasons, card_recent_transactions "
                             "from scoring.review_queue").fetchall()
        (alerts,) = conn.execute("select count(*) from scoring.alerts").fetchone() or (0,)
    assert len(queue) == alerts > 5
    assert [r[1] for r in queue] == sorted((r[1] for r in queue), reverse=True)
    assert all(r[2] for r in queue)
    top = queue[0][0]
    shown = pgfraud("review", "--top", "5", url=db)
    assert shown.returncode == 0, shown.stderr
    assert str(top) in shown.stdout and "review queue" in shown.stdout
    assert pgfraud("label", str(top), "fraud", url=db).returncode == 0
    with connect(db, role=ANALYST_ROLE) as conn:
        remaining = [r[0] for r in conn.execute("select transaction_id from scoring.review_queue")]
    assert top not in remaining and len(remaining) == len(queue) - 1


def test_simulated_analysts_review_alerts_sample_and_chargebacks(db: str) -> None:
    options = AnalystOptions(delay=dt.timedelta(days=1), coverage=0.25,
                             chargeback_delay=dt.timedelta(days=2), seed=1)
    with psycopg.connect(db, autocommit=True) as conn:
        first = simulate_analysts(conn, options)
        again = simulate_analysts(conn, options)
        rows = conn.execute(
            """select p.is_alert, p.true_value, p.label_note, p.labeled_at, t.transacted_at,
                      f.trans_num is not null,
                      t.transacted_at <= (select max_transacted_at from ingest.event_clock)
                                         - interval '1 day'
               from scoring.predictions p join ingest.transactions t using (transaction_id)
               left join truth.fraud_transactions f using (trans_num)""").fetchall()
    assert first.labelled > 0 and again.labelled == 0  # idempotent until time passes
    labelled = [r for r in rows if r[1] is not None]
    assert all(r[1] == r[5] for r in labelled)           # labels are the truth
    assert all(r[3] >= r[4] + dt.timedelta(days=1) for r in labelled)  # after the delay
    due = [r for r in rows if r[6]]
    assert all(r[1] is not None for r in due if r[0])    # every due alert reviewed
    sampled = [r for r in due if not r[0] and r[2] == "sampled review"]
    others = [r for r in due if not r[0]]
    assert 0.18 < len(sampled) / len(others) < 0.32
    assert all(r[5] and not r[0] for r in rows if r[2] == "chargeback")
    assert first.chargebacks == sum(r[2] == "chargeback" for r in rows)


def test_labels_due_hash_only_unlabelled_transactions(db: str) -> None:
    """The sample is a hash of the transaction id. The planner used to derive a filter
    from the final condition and hash every score row's id, labelled or not, before the
    anti-join (a cost growing with the table, run once per replayed day): the scan of
    scoring.scores must not compute it."""
    due = queries.load("labels")["simulated_labels_due"]
    with psycopg.connect(db) as conn:
        ((plan,),) = conn.execute(
            "explain (verbose, format json) " + due,
            {"delay": dt.timedelta(days=1), "chargeback_delay": dt.timedelta(days=2),
             "coverage": 0.3, "seed": 0}).fetchall()
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    scans = [n for n in nodes if n.get("Relation Name") == "scores"]
    assert scans and not any("hashtextextended" in n.get("Filter", "") for n in scans)
    assert any("hashtextextended" in json.dumps(n.get("Output", [])) for n in nodes)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_simulated_analysts_label_each_transaction_once_beside_a_shadow(
        databases: Databases) -> None:
    """With a shadow model, a transaction has two prediction rows and one label. The
    simulated analysts write through the champion's row only: the label shows on both
    rows, one label event per labelled transaction, stamped at event time + delay (or the
    event clock, if later), by the simulated author, equal to the truth."""
    url = databases.create()
    produce(url, days=3, cards=200)
    quick_model(url, seed=1, status="champion")
    quick_model(url, seed=2, status="shadow")
    with Scorer(url) as scorer:
        scorer.run(lambda: False, once=True)
    options = AnalystOptions(delay=dt.timedelta(days=1), coverage=0.5,
                             chargeback_delay=dt.timedelta(days=2), seed=3,
                             labeled_by="shadow-test")
    with psycopg.connect(url, autocommit=True) as conn:
        done = simulate_analysts(conn, options)
        rows = conn.execute(
            """select p.transaction_id, count(*), count(*) filter (where p.is_shadow),
                      bool_and(p.true_value = (f.trans_num is not null)),
                      count(distinct (p.true_value, p.labeled_at, p.labeled_by)),
                      min(p.labeled_at) = greatest(
                          min(t.transacted_at) + case when min(p.label_note) = 'chargeback'
                                                      then interval '2 days'
                                                      else interval '1 day' end,
                          (select max_transacted_at from ingest.event_clock)),
                      min(p.labeled_by),
                      (select count(*) from scoring.label_events e
                       where e.transaction_id = p.transaction_id)
               from scoring.predictions p join ingest.transactions t using (transaction_id)
               left join truth.fraud_transactions f using (trans_num)
               where p.true_value is not null
               group by p.transaction_id""").fetchall()
    assert done.labelled == len(rows) > 100
    assert all(r[1:] == (2, 1, True, 1, True, "shadow-test", 1) for r in rows), rows[:3]


@pytest.fixture(scope="module")
def labelled_history(databases: Databases) -> str:
    """30 days of traffic, every transaction labelled from truth."""
    url = databases.create()
    produce(url, days=30)
    label_from_truth(url)
    return url


def test_retrain_puts_a_better_challenger_in_shadow_not_in_charge(
        databases: Databases, labelled_history: str) -> None:
    url = databases.clone(labelled_history)
    # A champion that ranks at random: trained on shuffled labels.
    weak = quick_model(url, seed=5, trees=3, status="champion", shuffle_labels=True)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        skipped = retrain(conn, RetrainOptions(min_new_labels=10**9))
        decision = retrain(conn, RetrainOptions(min_new_labels=100, margin=0.01))
        status = registry.load(conn, decision.challenger or 0).status
        assert registry.champion(conn) == weak
        recorded = conn.execute(
            "select trigger_reason, outcome, rule, champion_version, challenger_version, "
            "(challenger_metrics->>'average_precision')::float8, "
            "(champion_metrics->>'average_precision')::float8, evaluated_rows "
            "from ml.retrain_decisions order by retrain_decision_id").fetchall()
    assert skipped.outcome == "skipped" and skipped.trigger_reason == "not_triggered"
    # Better offline by far, yet it must first score live traffic in shadow (the
    # promotion itself is tests/integration/test_governance.py's).
    assert (decision.outcome, decision.rule, status) == ("kept_champion", "shadow_period",
                                                         "shadow")
    assert recorded[0][:3] == ("not_triggered", "skipped", "not_triggered")
    reason, outcome, rule, champion, challenger, challenger_ap, champion_ap, rows = recorded[1]
    assert (reason, outcome, rule, champion, challenger) == (
        "new_labels", "kept_champion", "shadow_period", weak, decision.challenger)
    assert challenger_ap >= champion_ap + 0.01 and rows > 1000
    assert "offline on its validation window: AP" in decision.detail


def test_retrain_refuses_a_worse_challenger(databases: Databases,
                                            labelled_history: str) -> None:
    url = databases.clone(labelled_history)
    # A champion that has seen every label, the validation window's included: no
    # honest challenger beats it by a clear margin.
    strong = quick_model(url, seed=6, trees=300, alert_share=0.02, status="champion")
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        decision = retrain(conn, RetrainOptions(min_new_labels=0, margin=0.02))
        assert registry.champion(conn) == strong
        assert registry.load(conn, decision.challenger or 0).status == "shadow"
    assert decision.outcome == "kept_champion"
    assert decision.champion_ap is not None and decision.challenger_ap is not None
    assert decision.challenger_ap < decision.champion_ap + 0.02


def test_replay_reports_metrics_that_match_sklearn(db_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "history.csv"
    made = pgfraud("produce", "--span", "22d", "--cards", "300", "--fraud-rate", "0.02",
                   "--start", "2026-02-01", "--to-csv", str(csv), url=db_url)
    assert made.returncode == 0, made.stderr
    report_path = tmp_path / "report.json"
    result = pgfraud("replay", str(csv), "--report", str(report_path), url=db_url)
    assert result.returncode == 0, result.stderr
    assert "pooled over all" in result.stdout and "model history" in result.stdout
    report = json.loads(report_path.read_text())
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(sql.SQL(
            """select (f.trans_num is not null)::int, p.score
               from scoring.predictions p join ingest.transactions t using (transaction_id)
               left join truth.fraud_transactions f using (trans_num)
               where not p.is_shadow""")).fetchall()
        ((transactions,),) = conn.execute("select count(*) from ingest.transactions").fetchall()
        ((duplicates,),) = conn.execute(
            "select count(*) from (select transaction_id from scoring.predictions "
            "where not is_shadow group by 1 having count(*) > 1) d").fetchall()
        ((decisions,),) = conn.execute("select count(*) from ml.retrain_decisions").fetchall()
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows])
    overall = report["pooled"]
    assert len(rows) == transactions == report["accounting"]["read"] == overall["transactions"]
    assert duplicates == 0
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert overall["average_precision"] == pytest.approx(average_precision_score(y, s),
                                                         abs=1e-9)
    assert overall["average_precision"] > 5 * y.mean()
    assert sum(w["transactions"] for w in report["weeks"]) == transactions
    assert decisions == len(report["decisions"]) >= 2


def test_replay_labelling_beside_scoring_equals_labelling_after_it(
        databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay writes a day's labels in a thread while the day's rows are scored: the
    database it leaves is the one labelling after scoring leaves (every label event at the
    same time, the same features, every prediction by the same model with the same
    score, the same retraining decisions), even when the analysts are slower than the
    rest (the next day's ingest and the retraining rounds wait for them). A day's rows,
    prepared while the day before is stored, reach the database only after that day's
    labels, so each label carries the event time of its own day. The first days, before
    any label is due, are stored while the bootstrap model trains and scored after it:
    the same scores as day by day."""
    csv = tmp_path / "history.csv"
    beside, after = databases.create(), databases.create()
    made = pgfraud("produce", "--span", "22d", "--cards", "300", "--fraud-rate", "0.02",
                   "--start", "2026-02-01", "--to-csv", str(csv), url=beside)
    assert made.returncode == 0, made.stderr
    rounds: list[None] = []

    def slow_analysts(*args: Any, **kwargs: Any) -> Any:
        # The rounds on this file's retraining days (its 8th and 16th), and the 4th,
        # finish after the scorer: still labelling when the next steps would start.
        rounds.append(None)
        time.sleep(2.0 if len(rounds) in (4, 8, 16) else 0.0)
        return simulate_analysts(*args, **kwargs)

    left: dict[bool, dict[str, Any]] = {}
    for url, overlap in ((beside, True), (after, False)):
        monkeypatch.setattr(replay_module, "simulate_analysts",
                            slow_analysts if overlap else simulate_analysts)
        report = replay(url, csv, ReplayOptions(overlap=overlap),
                        tokenizer=Tokenizer(b"replay-test-key-0123456789abcdef"))
        with psycopg.connect(url) as conn:
            left[overlap] = {
                "predictions": conn.execute(
                    "select t.trans_num, p.model_version, p.is_shadow, p.score, p.is_alert"
                    " from scoring.scores p join ingest.transactions t using (transaction_id)"
                    " order by 1, 2").fetchall(),
                "label events": conn.execute(
                    "select t.trans_num, e.old_value, e.new_value, e.labeled_at"
                    " from scoring.label_events e join ingest.transactions t"
                    " using (transaction_id) order by 1, e.labeled_at, e.label_event_id"
                ).fetchall(),
                "merchant features": conn.execute(
                    "select t.trans_num, f.merchant_fraud_count_7d, f.merchant_fraud_count_30d,"
                    " f.merchant_fraud_rate_30d from features.transaction_features f"
                    " join ingest.transactions t using (transaction_id) order by 1").fetchall(),
                "decisions": [(d.outcome, d.rule, d.champion, d.challenger)
                              for d in report.decisions],
                "phases": set(report.phases),
                # A label is stamped with the event clock when it is written: the newest
                # row of the replayed day whose round found it due, or of the file for
                # the last round. A later day's rows sent before it would stamp it later.
                "labels stamped late": conn.execute(
                    "with day_ends as (select max(transacted_at) as last"
                    "  from ingest.transactions group by (transacted_at at time zone 'UTC')::date)"
                    " select count(*) from scoring.label_events e"
                    " where e.labeled_at <> coalesce("
                    "  (select min(last) from day_ends"
                    "   where last >= e.transacted_at + interval '7 days'),"
                    "  (select max(last) from day_ends))").fetchone()}
    assert "labels (in a thread, beside scoring)" in left[True]["phases"]
    assert "labels" in left[False]["phases"]
    beside_bootstrap = "ingest with features (in a thread, beside the bootstrap)"
    assert beside_bootstrap in left[True]["phases"]
    assert beside_bootstrap not in left[False]["phases"]
    assert len({(p[1], p[2]) for p in left[True]["predictions"]}) >= 2
    assert len(left[True]["label events"]) > 1000
    assert any(f[2] for f in left[True]["merchant features"])
    for part in ("predictions", "label events", "merchant features", "decisions"):
        assert left[True][part] == left[False][part], part
    assert left[True]["labels stamped late"] == left[False]["labels stamped late"] == (0,)


def _trained_champion(url: str) -> int:
    """A model trained on every label known now, promoted; its version."""
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        cutoff = training.default_cutoff(conn)
        data = training.load_dataset(conn, cutoff=cutoff, start=FAR_PAST, end=cutoff)
        version, _ = registry.register(conn, training.train(data), mode="labels",
                                       cutoff=cutoff, seconds=0.0, deploy="promote")
    assert version is not None
    return version


def _assert_drift_matches_numpy(url: str, version: int) -> None:
    """ml.feature_drift's PSI of every reference feature over a week equals numpy's, with
    NaN and infinite values counted as NULL (as the dbt histograms count them)."""
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        start, end = dt.datetime(2026, 9, 25, tzinfo=dt.UTC), dt.datetime(2026, 10, 2,
                                                                            tzinfo=dt.UTC)
        drift = {f: (psi, n) for f, psi, n in conn.execute(
            "select * from ml.feature_drift(%s, %s, %s)", (version, start, end))}
    with psycopg.connect(url) as conn:
        ((reference,),) = conn.execute("select reference_distributions from ml.models "
                                       "where model_version = %s", (version,)).fetchall()
        names = list(reference["features"])
        rows = conn.execute(sql.SQL(
            "select {} from features.model_input_v1 where transacted_at >= %s "
            "and transacted_at < %s").format(sql.SQL(", ").join(map(sql.Identifier, names))),
            (start, end)).fetchall()
    assert len(rows) > 1000
    assert set(drift) == set(names)  # no predictions by this model: no score drift row
    for i, name in enumerate(names):
        values = [None if r[i] is not None and not math.isfinite(r[i]) else r[i] for r in rows]
        expected = psi(values, reference["features"][name])
        assert drift[name][0] == pytest.approx(expected, abs=1e-9), name
        assert drift[name][1] == len(rows)


def test_feature_drift_psi_matches_numpy(databases: Databases, labelled_history: str) -> None:
    url = databases.clone(labelled_history)
    _assert_drift_matches_numpy(url, _trained_champion(url))


def test_feature_drift_counts_nan_and_infinity_as_null(databases: Databases,
                                                       labelled_history: str) -> None:
    """Stored features are finite, but a float column can hold NaN and infinities: the
    drift function bins them as NULL (-1), not as the top bin."""
    url = databases.clone(labelled_history)
    version = _trained_champion(url)
    with psycopg.connect(url) as conn:
        changed = conn.execute(
            "update features.transaction_features as f set amount_zscore_30d = x.v "
            "from (select transaction_id, (array['NaN', 'Infinity', '-Infinity'])"
            "[1 + (row_number() over (order by transaction_id))::int % 3]::float8 as v "
            "      from ingest.transactions where transacted_at >= '2026-09-26' "
            "      and transacted_at < '2026-09-27' limit 300) as x "
            "where f.transaction_id = x.transaction_id").rowcount
    assert changed == 300
    _assert_drift_matches_numpy(url, version)


def test_retrain_auto_is_triggered_by_drift(databases: Databases,
                                            labelled_history: str) -> None:
    url = databases.clone(labelled_history)
    version = _trained_champion(url)
    quiet = pgfraud("retrain", "--auto", "--min-labels", "1000000", "--drift-window", "120d",
                    url=url)
    assert quiet.returncode == 0, quiet.stderr
    assert "skipped" in quiet.stdout and "largest PSI" in quiet.stdout
    # The world moves: amounts now sit ten times higher than the reference bins.
    with psycopg.connect(url) as conn:
        conn.execute("""update ml.models set reference_distributions = jsonb_set(
                            reference_distributions, '{features,amount,edges}',
                            (select jsonb_agg((e::text::float8 * 10))
                             from jsonb_array_elements(
                                 reference_distributions->'features'->'amount'->'edges') e))
                        where model_version = %s""", (version,))
    drifted = pgfraud("retrain", "--auto", "--min-labels", "1000000", "--drift-window", "120d",
                      url=url)
    assert drifted.returncode == 0, drifted.stderr
    assert "(drift," in drifted.stdout
    with psycopg.connect(url) as conn:
        decisions = conn.execute("select trigger_reason, max_psi_feature, max_psi "
                                 "from ml.retrain_decisions order by 1").fetchall()
    assert decisions[0][0] == "drift" and decisions[0][1] == "amount" and decisions[0][2] > 0.2
    assert decisions[1][0] == "not_triggered" and decisions[1][2] <= 0.2
