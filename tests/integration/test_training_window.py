"""The training window and the row cap on a real database: a retraining reads only the
last ``window`` of labelled event time, labels before it do not change the model, and a
capped training records its sampling in the model card, the training run and the
decision's evidence."""

from __future__ import annotations

import dataclasses
import datetime as dt

import psycopg
import pytest
from click.testing import CliRunner

from pgfraud.cli import cli
from pgfraud.kernel.db import connect
from pgfraud.kernel.names import TRAINER_ROLE
from pgfraud.lifecycle import training
from pgfraud.lifecycle.retrain import RetrainOptions, retrain
from tests.conftest import Databases
from tests.history import label_from_truth, produce

WINDOW = dt.timedelta(days=12)
CAP = 2000


@pytest.fixture(scope="module")
def short_history(databases: Databases) -> str:
    """24 days of traffic (300 cards, 2 % fraud), every transaction labelled."""
    url = databases.create()
    produce(url, days=24, cards=300, fraud_rate=0.02)
    label_from_truth(url)
    return url


def _newest_label(url: str) -> dt.datetime:
    with psycopg.connect(url) as conn:
        (newest,) = conn.execute(
            "select max(t.transacted_at) from scoring.labels l join ingest.transactions t "
            "using (transaction_id) where l.true_value is not null").fetchone() or (None,)
    assert isinstance(newest, dt.datetime)
    return newest


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds")


def test_a_retraining_reads_only_its_window_and_records_the_sampling(
        databases: Databases, short_history: str) -> None:
    url = databases.clone(short_history)
    start = _newest_label(url) - WINDOW
    options = RetrainOptions(min_new_labels=0, train=training.TrainOptions(
        window=WINDOW, max_rows=CAP))
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        decision = retrain(conn, options)
    assert decision.challenger is not None, decision.detail
    with psycopg.connect(url) as conn:
        ((evidence, card, run_from, run_to, run_rows, detail, seconds),) = conn.execute(
            """select d.evidence, m.metrics, r.train_from, r.train_to, r.train_rows, r.detail,
                      r.seconds
               from ml.retrain_decisions d
               join ml.models m on m.model_version = d.challenger_version
               join ml.training_runs r using (training_run_id)
               where d.retrain_decision_id = %s""", (decision.decision_id,)).fetchall()
        ((in_window, before),) = conn.execute(
            """select count(*) filter (where transacted_at >= %(start)s),
                      count(*) filter (where transacted_at < %(start)s)
               from features.model_input_v1""", {"start": start}).fetchall()
        ((labelled, frauds),) = conn.execute(
            """select count(*), count(*) filter (where l.true_value)
               from scoring.labels l join ingest.transactions t using (transaction_id)
               where l.true_value is not null and t.transacted_at >= %s
                 and t.transacted_at <= %s""", (start, run_to)).fetchall()
    # Only the window was read: the model input from its start on, nothing before.
    assert before > 0 and evidence["dataset_rows"] == in_window
    assert run_from >= start
    recorded = card["training_set"]
    assert recorded["window_from"] == _iso(start)
    # Capped: every fraud of the training part, legitimate rows sampled to the cap.
    assert (recorded["rows"], recorded["positives"]) == (labelled, frauds)
    assert recorded["sampled"] and recorded["sampled_rows"] == CAP
    assert recorded["negative_rate"] == pytest.approx(
        (CAP - recorded["positives"]) / (recorded["rows"] - recorded["positives"]))
    assert run_rows == recorded["rows"] == card["train"]["rows"]
    # The same record in the training run and the decision's evidence, with the time.
    assert detail["training_set"] == recorded == evidence["training_set"]
    assert evidence["training_seconds"] == pytest.approx(seconds)
    assert evidence["training_seconds"] >= evidence["load_seconds"] > 0
    assert card["seconds"]["total"] <= evidence["training_seconds"]


def test_labels_before_the_window_do_not_change_the_model(
        databases: Databases, short_history: str) -> None:
    url = databases.clone(short_history)
    start = _newest_label(url) - WINDOW
    options = training.TrainOptions(window=WINDOW)

    def model(options: training.TrainOptions) -> str:
        with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
            data = training.load_training_data(conn, options,
                                               cutoff=training.default_cutoff(conn))
        if options.window is not None:
            assert data.start == start.timestamp() and data.times.min() >= data.start
        else:
            assert data.start is None and data.times.min() < start.timestamp()
        # The LightGBM model: its ONNX export's bytes differ between identical trainings.
        return training.train(data, options).booster.model_to_string()

    windowed = model(options)
    everything = model(dataclasses.replace(options, window=None))
    with psycopg.connect(url) as conn:  # every label before the window turned around
        flipped = conn.execute(
            """update scoring.predictions p set true_value = not p.true_value
               from ingest.transactions t
               where t.transaction_id = p.transaction_id and t.transacted_at < %s
                 and p.true_value is not null""", (start,)).rowcount
    assert flipped > 1000
    assert model(options) == windowed
    assert model(dataclasses.replace(options, window=None)) != everything


def test_train_command_takes_the_window_and_the_cap(
        databases: Databases, short_history: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = databases.clone(short_history)
    start = _newest_label(url) - WINDOW
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["train", "--train-window", "12d",
                                      "--max-train-rows", str(CAP)])
    assert result.exit_code == 0, result.output
    with psycopg.connect(url) as conn:
        ((metrics, detail),) = conn.execute(
            "select m.metrics, r.detail from ml.models m join ml.training_runs r "
            "using (training_run_id)").fetchall()
    assert metrics["training_set"]["window_from"] == _iso(start)
    assert metrics["training_set"]["sampled_rows"] == CAP
    assert detail["training_set"] == metrics["training_set"]
