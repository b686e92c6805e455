"""Model lifecycle on a real database: train on stored features and labels, ONNX parity,
registry status changes, bootstrap, and the command line."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import onnxruntime
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from pgfraud.cli import cli
from pgfraud.kernel.db import connect
from pgfraud.kernel.names import MODELS_CHANNEL, TRAINER_ROLE
from pgfraud.lifecycle import registry, training
from pgfraud.lifecycle.training import FAR_PAST
from tests.conftest import Databases
from tests.history import label_from_truth, produce

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
TRAINER = TRAINER_ROLE


@pytest.fixture(scope="module")
def history(databases: Databases) -> str:
    """30 days of simulated traffic (500 cards, 2% fraud), every transaction labelled."""
    url = databases.create()
    produce(url, days=30)
    label_from_truth(url)
    return url


@pytest.fixture
def history_db(databases: Databases, history: str) -> str:
    return databases.clone(history)


def _train(url: str, options: training.TrainOptions | None = None,
           cutoff: dt.datetime | None = None) -> tuple[training.TrainedModel, int | None]:
    options = options or training.TrainOptions()
    with connect(url, role=TRAINER, autocommit=True) as conn:
        cutoff = cutoff or training.default_cutoff(conn)
        data = training.load_dataset(conn, cutoff=cutoff, start=FAR_PAST, end=cutoff)
        trained = training.train(data, options)
        version, _ = registry.record_run(conn, trained, mode="labels", cutoff=cutoff,
                                         seconds=0.0)
    return trained, version


def test_the_training_read_equals_the_model_input_view(history_db: str) -> None:
    """load_dataset reads the features packed (float8 bytes per row); the matrix must be
    the view's values in the view's column order, NULL as NaN, each row with its own
    key, time, card and label as of the cutoff, also when a chunk ends mid-read."""
    with psycopg.connect(history_db) as conn:
        conn.execute("update features.transaction_features set amount_zscore_30d = null "
                     "where transaction_id % 7 = 0")
        conn.execute("update features.transaction_features set km_from_home = "
                     "'NaN'::float8 where transaction_id % 11 = 0")
    with connect(history_db, role=TRAINER, autocommit=True) as conn:
        cutoff = training.default_cutoff(conn)
        names = training.feature_columns(conn)
        data = training.load_dataset(conn, cutoff=cutoff, start=FAR_PAST, end=cutoff,
                                     chunk=997)
    with psycopg.connect(history_db) as conn:
        rows = conn.execute(sql.SQL(
            """select v.transaction_id, v.trans_num, v.card_token,
                      extract(epoch from v.transacted_at)::float8, l.true_value, {}
               from features.model_input_v1 v
               left join scoring.labels l using (transaction_id)
               order by v.transacted_at, v.transaction_id""").format(
            sql.SQL(", ").join(map(sql.Identifier, names)))).fetchall()
    assert data.feature_names == names and len(names) > 20
    assert data.transaction_ids.tolist() == [r[0] for r in rows]
    assert data.trans_nums == [r[1] for r in rows]
    assert data.cards.tolist() == [r[2] for r in rows]
    assert data.times.tolist() == [r[3] for r in rows]
    assert np.array_equal(data.labels, np.array(
        [np.nan if r[4] is None else float(r[4]) for r in rows]), equal_nan=True)
    expected = np.array([r[5:] for r in rows], dtype=np.float64).astype(np.float32)
    assert data.features.dtype == np.float32
    assert np.array_equal(data.features, expected, equal_nan=True)
    assert np.isnan(data.features[:, names.index("amount_zscore_30d")]).sum() >= len(rows) // 8


def test_model_beats_random_and_its_metrics_match_sklearn(history_db: str) -> None:
    _, version = _train(history_db)
    assert version is not None

    # Recompute everything independently: labels from the truth schema (not the label
    # history), scores from the stored ONNX bytes, metrics from scikit-learn.
    with psycopg.connect(history_db) as conn:
        row = conn.execute(
            """select m.onnx_model, m.feature_names, m.threshold, m.metrics,
                      r.validation_from, r.validation_to
               from ml.models m join ml.training_runs r using (training_run_id)
               where m.model_version = %s""", (version,)).fetchone()
        assert row is not None
        onnx_bytes, names, threshold, stored, validation_from, validation_to = row
        rows = conn.execute(
            sql.SQL("""select (f.trans_num is not null)::int,
                              (v.transacted_at at time zone 'UTC')::date, v.card_token, {}
                       from features.model_input_v1 v
                       left join truth.fraud_transactions f using (trans_num)
                       where v.transacted_at >= %s and v.transacted_at <= %s""").format(
                sql.SQL(", ").join(map(sql.Identifier, names))),
            (validation_from, validation_to)).fetchall()
    y = np.array([r[0] for r in rows])
    x = np.array([r[3:] for r in rows], dtype=np.float64).astype(np.float32)
    session = onnxruntime.InferenceSession(bytes(onnx_bytes),
                                           providers=["CPUExecutionProvider"])
    scores = session.run(["probabilities"], {"features": x})[0][:, 1]
    predicted = (scores >= threshold).astype(int)

    validation = stored["validation"]
    assert validation["labelled"] == len(y) and validation["positives"] == y.sum()
    assert validation["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-9)
    assert validation["average_precision"] == pytest.approx(
        average_precision_score(y, scores), abs=1e-9)
    assert validation["precision"] == pytest.approx(precision_score(y, predicted), abs=1e-9)
    assert validation["recall"] == pytest.approx(recall_score(y, predicted), abs=1e-9)
    assert validation["f1"] == pytest.approx(f1_score(y, predicted), abs=1e-9)

    best: dict[tuple[dt.date, str], float] = defaultdict(lambda: -1.0)
    compromised: dict[tuple[dt.date, str], int] = defaultdict(int)
    for (label, day, card, *_), score in zip(rows, scores, strict=True):
        best[day, card] = max(best[day, card], float(score))
        compromised[day, card] |= label
    shares = []
    for day in sorted({d for d, _ in best}):
        cards = sorted((c for d, c in best if d == day), key=lambda c: (-best[day, c], c))
        top = cards[:100]
        shares.append(sum(compromised[day, c] for c in top) / len(top))
    assert validation["card_precision_at_100"] == pytest.approx(np.mean(shares), abs=1e-9)

    # Clearly better than a random ranking, whose AP is the fraud share.
    assert validation["random_average_precision"] == pytest.approx(y.mean())
    assert validation["average_precision"] > 10 * y.mean()
    assert validation["roc_auc"] > 0.9
    # The alert-rate rule holds on the validation window.
    assert validation["alert_rate"] <= 0.01
    assert stored["threshold_rule"] == {"rule": "alert-rate", "alert_rate": 0.01}

    # Scores that rank: enough trees and distinct scores, counted on the ONNX output.
    assert stored["trees"] >= training.TrainOptions().min_rounds
    assert validation["distinct_scores"] == len(np.unique(scores))
    assert stored["can_rank"] == {"ok": True, "distinct_scores": len(np.unique(scores)),
                                  "required": min(100, max(10, len(y) // 100)),
                                  "trees": stored["trees"]}
    # Money: the amount of the frauds alerted over that of all frauds.
    amount = x[:, names.index("amount")].astype(np.float64)
    fraud_amount = amount[y == 1].sum()
    assert validation["fraud_amount"] == pytest.approx(fraud_amount)
    assert validation["fraud_amount_alerted"] == pytest.approx(
        amount[(y == 1) & (predicted == 1)].sum())
    assert validation["value_detected"] == pytest.approx(
        amount[(y == 1) & (predicted == 1)].sum() / fraud_amount)
    # Calibrated in the graph: the stored model's scores average the fraud rate, the
    # Brier score fell, and the reliability curve is of these scores.
    calibration = stored["calibration"]
    assert calibration["method"] == "platt" and calibration["a"] > 0
    assert calibration["brier"] == pytest.approx(np.mean((scores - y) ** 2), abs=1e-9)
    assert calibration["brier"] < calibration["brier_raw"]
    assert scores.mean() == pytest.approx(y.mean(), rel=0.1)
    assert sum(b["count"] for b in calibration["reliability"]) == len(y)
    # Parity was judged on the calibrated graph, at the threshold, and on the raw export.
    parity = stored["parity"]
    assert parity["ok"] and parity["raw"]["ok"] and parity["threshold"] == threshold
    assert parity["decision_flips"] == 0 and parity["rank_correlation"] >= 0.9999
    assert parity["max_abs_diff"] <= parity["tolerance"]


def test_labels_arriving_after_the_cutoff_are_invisible(history_db: str) -> None:
    with psycopg.connect(history_db) as conn:
        row = conn.execute("select max(labeled_at) from scoring.predictions").fetchone()
        assert row is not None
        first = row[0]
        later = first + dt.timedelta(days=10)
        relabelled = conn.execute(
            """update scoring.predictions set true_value = false, labeled_at = %s
               where transaction_id in (select transaction_id from scoring.predictions
                                        where true_value order by transaction_id limit 40)""",
            (later,)).rowcount
    assert relabelled == 40
    with connect(history_db, role=TRAINER) as conn:
        def load(cutoff: dt.datetime) -> training.Dataset:
            return training.load_dataset(conn, cutoff=cutoff, start=FAR_PAST, end=later)
        before, after, none = (load(first + dt.timedelta(days=1)), load(later),
                               load(first - dt.timedelta(seconds=1)))
    assert len(before) == len(after) == len(none) > 10_000
    assert before.labelled.all() and after.labelled.all() and not none.labelled.any()
    assert np.nansum(before.labels) - np.nansum(after.labels) == 40


def test_split_is_time_ordered_with_a_gap(history_db: str) -> None:
    options = training.TrainOptions(validation=dt.timedelta(days=6), gap=dt.timedelta(days=2))
    trained, _ = _train(history_db, options)
    split = trained.split
    assert split.validation_to - split.validation_from == pytest.approx(6 * 86_400)
    assert split.gap_s == pytest.approx(2 * 86_400)
    window = trained.metrics["window"]
    assert window["train_to"] < window["validation_from"]


def test_a_model_failing_onnx_parity_is_not_registered(history_db: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    # Export a different model than the one trained: the parity check must catch it.
    real_to_onnx = training.to_onnx

    def wrong_model(booster: lgb.Booster, dump: dict[str, Any] | None = None) -> bytes:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(500, booster.num_feature()))
        other = lgb.train({"objective": "binary", "verbose": -1},
                          lgb.Dataset(x, (x[:, 0] > 0).astype(float)), num_boost_round=5)
        return real_to_onnx(other)

    monkeypatch.setattr(training, "to_onnx", wrong_model)
    monkeypatch.setenv("DATABASE_URL", history_db)
    with caplog.at_level(logging.ERROR, logger="pgfraud.lifecycle.training"):
        result = CliRunner().invoke(cli, ["train"])
    assert result.exit_code == 1, result.output
    assert "was not registered" in result.output and "rank correlation" in result.output
    # Loud: an ERROR with the numbers.
    (logged,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "ONNX parity failed" in logged.getMessage()
    assert "max |LightGBM - ONNX|" in logged.getMessage()
    with psycopg.connect(history_db) as conn:
        assert conn.execute("select count(*) from ml.models where note = 'labels training'"
                            ).fetchone() == (0,)
        run = conn.execute(
            "select outcome, model_version, (detail->'parity'->>'max_abs_diff')::float8 "
            "from ml.training_runs").fetchone()
        assert run is not None
        outcome, version, diff = run
    assert (outcome, version) == ("parity_failed", None) and diff > 1e-5


def test_cost_rule_picks_the_cheapest_threshold_through_the_cli(history_db: str) -> None:
    result = _pgfraud("train", "--threshold-rule", "cost", "--review-cost", "5",
                      "--validation", "7d", url=history_db)
    assert result.returncode == 0, result.stderr
    assert "lowest expected cost at 5 a review" in result.stdout
    assert "value detected" in result.stdout and "Platt" in result.stdout
    with psycopg.connect(history_db) as conn:
        row = conn.execute(
            """select m.onnx_model, m.feature_names, m.threshold, m.metrics,
                      r.validation_from, r.validation_to
               from ml.models m join ml.training_runs r using (training_run_id)""").fetchone()
        assert row is not None
        onnx_bytes, names, threshold, stored, validation_from, validation_to = row
        rows = conn.execute(
            sql.SQL("""select (f.trans_num is not null)::int, {}
                       from features.model_input_v1 v
                       left join truth.fraud_transactions f using (trans_num)
                       where v.transacted_at >= %s and v.transacted_at <= %s""").format(
                sql.SQL(", ").join(map(sql.Identifier, names))),
            (validation_from, validation_to)).fetchall()
    y = np.array([r[0] for r in rows])
    x = np.array([r[1:] for r in rows], dtype=np.float64).astype(np.float32)
    amount = x[:, names.index("amount")].astype(np.float64)
    session = onnxruntime.InferenceSession(bytes(onnx_bytes),
                                           providers=["CPUExecutionProvider"])
    scores = session.run(["probabilities"], {"features": x})[0][:, 1].astype(np.float64)

    def cost(t: float) -> float:
        return 5.0 * (scores >= t).sum() + amount[(y == 1) & (scores < t)].sum()

    costs = {float(t): cost(t) for t in np.unique(scores)}
    assert cost(threshold) == pytest.approx(min(costs.values()))
    rule = stored["threshold_rule"]
    assert rule["rule"] == "cost" and rule["review_cost"] == 5.0
    assert rule["expected_cost"] == pytest.approx(cost(threshold))
    assert rule["alerts"] == (scores >= threshold).sum()
    # Better than both extremes: alerting on nothing, and on everything.
    assert cost(threshold) < amount[y == 1].sum() and cost(threshold) < 5.0 * len(y)


@pytest.mark.parametrize(("args", "message"), [
    (["--alert-rate", "0.01", "--target-precision", "0.5"], "different threshold rules"),
    (["--threshold-rule", "cost", "--alert-rate", "0.02"], "not --threshold-rule cost"),
    (["--threshold-rule", "precision"], "needs --target-precision"),
    (["--review-cost", "5", "--target-precision", "0.5"], "different threshold rules"),
])
def test_conflicting_threshold_options_are_refused(args: list[str], message: str) -> None:
    for command in (["train"], ["retrain"]):
        result = CliRunner().invoke(cli, [*command, *args])
        assert result.exit_code == 2 and message in result.output, result.output


def test_min_rounds_and_a_model_that_cannot_rank(history_db: str) -> None:
    # Early stopping after one round without improvement still leaves min_rounds trees.
    patient, _ = _train(history_db, training.TrainOptions(early_stopping_rounds=1,
                                                          min_rounds=70))
    assert patient.metrics["trees"] >= 70 and patient.booster.num_trees() >= 70
    # One stump: two scores. Training does not refuse it; the card says it cannot rank.
    stump, version = _train(history_db, training.TrainOptions(
        min_rounds=1, max_rounds=1, num_leaves=2))
    assert version is not None and stump.metrics["trees"] == 1
    rows = stump.metrics["validation"]["rows"]
    assert stump.metrics["can_rank"] == {
        "ok": False, "distinct_scores": stump.metrics["validation"]["distinct_scores"],
        "required": min(100, max(10, rows // 100)), "trees": 1}
    assert stump.metrics["validation"]["distinct_scores"] <= 2
    card = _pgfraud("models", "show", str(version), url=history_db)
    assert card.returncode == 0, card.stderr
    assert "cannot rank" in card.stdout and "from 1 trees" in card.stdout


def _fake_models(url: str, n: int) -> list[int]:
    with psycopg.connect(url) as conn:
        return [conn.execute(
            """insert into ml.models (onnx_model, onnx_sha256, feature_names,
                   feature_set_version, threshold)
               values ('\\x00', repeat('a', 64), '{amount}', 1, 0.5) returning model_version"""
        ).fetchall()[0][0] for _ in range(n)]


def _statuses(conn: psycopg.Connection) -> dict[int, str]:
    return dict(conn.execute("select model_version, status from ml.models").fetchall())


def test_promote_shadow_retire_and_rollback(db_url: str) -> None:
    v1, v2, v3, v4 = _fake_models(db_url, 4)
    with connect(db_url, role=TRAINER, autocommit=True) as conn:
        with pytest.raises(registry.RegistryError, match="no champion"):
            registry.rollback(conn)
        assert registry.promote(conn, v1) is None
        with pytest.raises(registry.RegistryError, match="no earlier champion"):
            registry.rollback(conn)
        assert registry.promote(conn, v2) == v1
        assert registry.promote(conn, v3) == v2
        registry.shadow(conn, v4)
        assert _statuses(conn) == {v1: "retired", v2: "retired", v3: "champion", v4: "shadow"}
        assert [m.version for m in registry.deployed(conn)] == [v3, v4]

        # Rollback walks back through the champions, one at a time.
        assert registry.rollback(conn) == v2
        assert registry.rollback(conn) == v1
        assert _statuses(conn)[v1] == "champion"
        with pytest.raises(registry.RegistryError, match="no earlier champion"):
            registry.rollback(conn)
        # A re-promotion is a new entry: rolling back from it returns to v1.
        registry.promote(conn, v3)
        assert registry.rollback(conn) == v1

        with pytest.raises(registry.RegistryError, match="already the champion"):
            registry.promote(conn, v1)
        with pytest.raises(registry.RegistryError, match="is the champion"):
            registry.shadow(conn, v1)
        with pytest.raises(registry.RegistryError, match="is the champion"):
            registry.retire(conn, v1)
        with pytest.raises(registry.RegistryError, match="does not exist"):
            registry.promote(conn, 999_999)
        registry.retire(conn, v4)
        assert conn.execute("select count(*) from ml.models where status = 'champion'"
                            ).fetchone() == (1,)
        actions = [e["action"] for e in reversed(registry.events(conn, limit=100))]
    assert actions.count("register") == 4
    assert actions.count("rollback") == 6  # three rollbacks, two status changes each
    assert actions[-1] == "retire"


def test_status_changes_notify_running_scorers(db_url: str) -> None:
    (version,) = _fake_models(db_url, 1)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"listen {MODELS_CHANNEL}")
        with connect(db_url, role=TRAINER, autocommit=True) as conn:
            registry.promote(conn, version)
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert notes and notes[0].payload == f'{{"model_version" : {version}, "status" : "champion"}}'


def _pgfraud(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "120"}
    return subprocess.run([PGFRAUD, *args], env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_models_commands_show_the_card_and_the_history(history_db: str) -> None:
    trained = _pgfraud("train", "--validation", "7d", "--promote", url=history_db)
    assert trained.returncode == 0, trained.stderr
    assert "champion" in trained.stdout and "card precision@100" in trained.stdout
    second = _pgfraud("train", "--target-precision", "0.5", url=history_db)
    assert second.returncode == 0, second.stderr
    assert "registered as a candidate" in second.stdout
    with psycopg.connect(history_db) as conn:
        first_v, second_v = (v for (v,) in conn.execute(
            "select model_version from ml.models where note = 'labels training' "
            "order by model_version"))
    # No shadow scores yet: the gate refuses, and an override is recorded with its reason.
    assert _pgfraud("models", "promote", str(second_v), url=history_db).returncode == 1
    assert _pgfraud("models", "promote", str(second_v), "--force", "--reason", "test",
                    url=history_db).returncode == 0
    rolled = _pgfraud("models", "rollback", url=history_db)
    assert rolled.returncode == 0 and f"model {first_v} is the champion again" in rolled.stdout

    listing = _pgfraud("models", "list", url=history_db)
    assert listing.returncode == 0, listing.stderr
    for expected in ("champion", "retired", "rollback", "promote", "register", "analyst"):
        assert expected in listing.stdout
    card = _pgfraud("models", "show", str(second_v), url=history_db)
    assert card.returncode == 0
    for expected in ("training window", "validation window", "average precision",
                     "feature importance", "precision >= 0.5", "amount"):
        assert expected in card.stdout

    missing = _pgfraud("models", "show", "424242", url=history_db)
    assert missing.returncode == 1 and "model 424242 does not exist" in missing.stderr
    again = _pgfraud("models", "promote", str(first_v), url=history_db)
    assert again.returncode == 1 and "already the champion" in again.stderr


def test_train_without_labels_says_what_to_do(db_url: str) -> None:
    result = _pgfraud("train", url=db_url)
    assert result.returncode == 1
    assert "no labelled transactions" in result.stderr


def test_bootstrap_trains_a_champion_from_simulated_history(db_url: str,
                                                            pg_admin_url: str) -> None:
    result = _pgfraud("train", "--bootstrap", "--days", "8", "--cards", "400", url=db_url)
    assert result.returncode == 0, result.stderr
    assert "simulated history" in result.stdout
    with psycopg.connect(db_url) as conn:
        (status, mode, ap, random_ap), = conn.execute(
            """select m.status, r.mode, (m.metrics->'validation'->>'average_precision')::float8,
                      (m.metrics->'validation'->>'random_average_precision')::float8
               from ml.models m join ml.training_runs r using (training_run_id)""").fetchall()
        # The live database received nothing from the simulated history.
        assert conn.execute("select count(*) from ingest.transactions").fetchone() == (0,)
    assert (status, mode) == ("champion", "bootstrap")
    assert ap > 5 * random_ap
    with psycopg.connect(pg_admin_url) as conn:
        assert conn.execute("select count(*) from pg_database "
                            "where datname like 'pgfraud_bootstrap_%'").fetchone() == (0,)
