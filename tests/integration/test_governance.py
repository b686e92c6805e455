"""Promotion on evidence, end to end on a real database: a challenger serves in shadow,
is judged on its own live scores next to the champion's, and is promoted only when the
paired bootstrap says it is better; guardrails roll back a champion whose live scores
collapse; manual promotion shows the same evidence and needs --force to override it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pgfraud.kernel.card_numbers import find_card_numbers
from pgfraud.kernel.db import connect
from pgfraud.kernel.names import DECISIONS_CHANNEL, TRAINER_ROLE
from pgfraud.lifecycle import registry
from pgfraud.lifecycle.governance import Gates
from pgfraud.lifecycle.retrain import RetrainOptions, guard, retrain
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.run import Limits, run
from producer.stream import StreamConfig, TransactionStream
from scorer.scoring import Scorer
from tests.conftest import Databases
from tests.history import START, label_from_truth, quick_model
from tests.reference_metrics import psi

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
DAY = dt.timedelta(days=1)
# Labels arrive a day after the transaction here, so "matured" means a day old.
OPTIONS = RetrainOptions(min_new_labels=0, label_delay=DAY)


class Traffic:
    """One simulated world fed in stages, so later days continue the same cards."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stream: Iterator[tuple[Any, Any]] = iter(TransactionStream(StreamConfig(
            seed=7, start=START, fraud_rate=0.02, cards=400, merchants=80)))

    def feed(self, days: float) -> None:
        with psycopg.connect(self.url) as conn, Ingestor(
                conn, source="stream", tokenizer=Tokenizer(b"k" * 32)) as ingestor:
            run(self.stream, ingestor, Limits(span_s=days * 86_400))

    def serve(self, days: float) -> None:
        """``days`` of live traffic, scored by every deployed model, then labelled."""
        self.feed(days)
        with Scorer(self.url) as scorer:
            scorer.run(lambda: False, once=True)
        label_from_truth(self.url)


@pytest.fixture(scope="module")
def three_weeks(databases: Databases) -> str:
    """21 days of traffic, every transaction labelled; tests continue the same world."""
    url = databases.create()
    Traffic(url).feed(21)
    label_from_truth(url)
    return url


def _continued(url: str) -> Traffic:
    """The fixture's world, positioned after its 21 days (skipped, not re-sent)."""
    traffic = Traffic(url)
    end = START + 21 * DAY
    for tx, incident in traffic.stream:
        if tx.transacted_at >= end:
            traffic.stream = itertools.chain([(tx, incident)], traffic.stream)
            break
    return traffic


def _decisions(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute("select trigger_reason, outcome, rule, detail, evidence, "
                              "champion_version, challenger_version, evaluated_positives "
                              "from ml.retrain_decisions order by retrain_decision_id")
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_a_better_challenger_is_promoted_after_its_shadow_evidence(
        databases: Databases, three_weeks: str) -> None:
    url = databases.clone(three_weeks)
    traffic = _continued(url)
    weak = quick_model(url, seed=5, trees=3, status="champion", shuffle_labels=True)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        trained = retrain(conn, OPTIONS)
        challenger = trained.challenger
        assert challenger is not None
        assert (trained.outcome, trained.rule) == ("kept_champion", "shadow_period")
        assert registry.load(conn, challenger).status == "shadow"
        assert registry.champion(conn) == weak

    traffic.serve(1)  # one day in shadow: not enough
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        early = retrain(conn, OPTIONS)
    assert (early.outcome, early.rule) == ("kept_champion", "shadow_period")
    assert early.challenger == challenger  # gathering evidence: nothing new trained

    traffic.serve(8)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        judged = retrain(conn, OPTIONS)
        assert registry.champion(conn) == challenger
    assert (judged.outcome, judged.rule) == ("promoted", "evidence")
    row = _decisions(url)[-1]
    comparison = row["evidence"]["comparison"]
    assert row["trigger_reason"] == "shadow_evidence"
    assert comparison["lower"] > 0 and comparison["frauds"] >= 50
    assert comparison["frauds"] == row["evaluated_positives"]
    assert f"promoted challenger {challenger}" in row["detail"]
    # The evidence is the challenger's live shadow scores after its own validation window
    # only, though the scorer also scored the 21-day backlog with it.
    with psycopg.connect(url) as conn:
        ((validation_to, first_evidence, backlog),) = conn.execute(
            "select r.validation_to, d.evaluated_from, (select min(t.transacted_at) "
            "  from scoring.scores s join ingest.transactions t using (transaction_id) "
            "  where s.model_version = m.model_version) "
            "from ml.models m join ml.training_runs r using (training_run_id), "
            "ml.retrain_decisions d where m.model_version = %s "
            "and d.rule = 'evidence'", (challenger,)).fetchall()
    assert backlog < validation_to < first_evidence


def test_a_challenger_no_better_than_the_champion_is_retired(
        databases: Databases, three_weeks: str) -> None:
    url = databases.clone(three_weeks)
    traffic = _continued(url)
    # A champion that has seen every label of the history: no honest challenger beats it.
    strong = quick_model(url, seed=6, trees=300, alert_share=0.02, status="champion")
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        challenger = retrain(conn, OPTIONS).challenger
    traffic.serve(1)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:  # still gathering:
        assert retrain(conn, OPTIONS).rule == "shadow_period"      # named a second time
    traffic.serve(8)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        judged = retrain(conn, RetrainOptions(min_new_labels=10**9, label_delay=DAY))
        assert registry.champion(conn) == strong
        assert registry.load(conn, challenger or 0).status == "retired"
    first = judged.earlier[0] if judged.earlier else judged
    assert first.outcome == "kept_champion" and first.rule in ("not_better", "tie")
    assert first.detail.startswith("kept champion: ")
    assert _decisions(url)[-2]["evidence"]["comparison"]["lower"] <= 0


def test_manual_promotion_shows_the_evidence_and_needs_force(
        databases: Databases, three_weeks: str) -> None:
    url = databases.clone(three_weeks)
    champion = quick_model(url, seed=6, trees=30, status="champion")
    candidate = quick_model(url, seed=7, trees=30)
    env = {"DATABASE_URL": url, "PATH": str(Path(sys.executable).parent)}

    def promote(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PGFRAUD, "models", "promote", str(candidate), *extra],
                              env=env, capture_output=True, text=True, check=False)

    # A model registered without a training card rests on no known fraud at all.
    refused = promote()
    assert refused.returncode == 1
    assert "gate: too_few_training_frauds kept champion: the challenger was trained on 0 " \
           "frauds < 50 required" in refused.stdout
    assert "--force --reason" in refused.stderr
    dry = promote("--dry-run")
    assert dry.returncode == 0 and "would not be promoted" in dry.stdout
    no_reason = promote("--force")
    assert no_reason.returncode == 2 and "--force needs --reason" in no_reason.stderr
    # An operator pastes a card number into the reason: it is masked before it is stored.
    forced = promote("--force", "--reason", "incident drill INC-42, card 4111 1111 1111 1111")
    assert forced.returncode == 0, forced.stderr
    row = _decisions(url)[-1]
    assert (row["trigger_reason"], row["outcome"], row["rule"]) == ("manual", "promoted",
                                                                    "forced")
    assert "incident drill INC-42, card " in row["detail"]
    assert find_card_numbers(row["detail"]) == [] and "1111 1111" not in row["detail"]
    # And the database refuses one from any client that does not mask. (A bound
    # parameter: a literal in the statement would land in the server log, which
    # test_no_card_number_at_rest scans.)
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("insert into ml.retrain_decisions (trigger_reason, new_labels, "
                     "min_new_labels, margin, outcome, detail) values ('manual', 0, 0, 0, "
                     "'promoted', %s)", ("reason: 4111111111111111",))
    assert row["evidence"]["overridden_rule"] == "too_few_training_frauds"
    with psycopg.connect(url) as conn:
        ((by,),) = conn.execute("select decided_by from ml.retrain_decisions "
                                "order by retrain_decision_id desc limit 1").fetchall()
        assert registry.champion(conn) == candidate
    # Who: the login (session_user) that ran the command, not the role it acted as.
    assert by == conninfo_to_dict(url)["user"] and champion != candidate


def test_guardrail_rolls_back_a_collapsed_champion_and_says_so(
        databases: Databases, three_weeks: str) -> None:
    url = databases.clone(three_weeks)
    traffic = _continued(url)
    first = quick_model(url, seed=6, trees=30, status="champion")
    second = quick_model(url, seed=7, trees=30, status="champion")   # promoted over it
    # The second model's scores collapse: its reference says scores sat ten times lower.
    with psycopg.connect(url) as conn:
        conn.execute("""update ml.models set reference_distributions = jsonb_set(
                            reference_distributions, '{score,edges}',
                            (select jsonb_agg(e::text::float8 / 10) from jsonb_array_elements(
                                reference_distributions->'score'->'edges') e))
                        where model_version = %s""", (second,))
    traffic.serve(2)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as listener:
        listener.execute(f"listen {DECISIONS_CHANNEL}")
        with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
            cutoff = conn.execute("select max_transacted_at from ingest.event_clock"
                                  ).fetchone()[0]  # type: ignore[index]
            decision = guard(conn, Gates(), cutoff=cutoff)
            again = guard(conn, Gates(), cutoff=cutoff)
            assert registry.champion(conn) == first
        notices = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=1)]
    assert decision is not None and decision.outcome == "rolled_back"
    assert decision.rule == "guardrail_score_psi" and again is None
    assert decision.detail.startswith(f"rolled back to model {first}: model {second}'s live "
                                      "score PSI")
    assert notices[0]["outcome"] == "rolled_back" and notices[0]["rule"] == decision.rule
    # The PSI the guardrail used is the reference implementation's.
    with psycopg.connect(url) as conn:
        ((reference,),) = conn.execute("select reference_distributions->'score' from "
                                       "ml.models where model_version = %s",
                                       (second,)).fetchall()
        scores = [s for (s,) in conn.execute(
            "select p.score from scoring.scores p join ingest.transactions t "
            "using (transaction_id) where p.model_version = %s and not p.is_shadow "
            "and t.transacted_at >= %s and t.transacted_at < %s",
            (second, cutoff - DAY, cutoff)).fetchall()]
    used = _decisions(url)[-1]["evidence"]["health"]
    assert used["predictions"] == len(scores) > 500
    assert used["score_psi"] == pytest.approx(psi(scores, reference), abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_population_stability_in_sql_matches_the_reference(db_url: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = sorted(rng.normal(size=int(rng.integers(0, 9))).tolist())
    reference = {"edges": edges, "null_fraction": float(rng.uniform(0, 0.3)),
                 "fractions": rng.dirichlet(np.ones(len(edges) + 1)).tolist()}
    values: list[float | None] = [None if rng.uniform() < 0.1 else float(v)
                                  for v in rng.normal(0.3, 1.2, size=500)]
    with psycopg.connect(db_url) as conn:
        ((got,),) = conn.execute("select ml.population_stability(%s::jsonb, %s)",
                                 (json.dumps(reference), values)).fetchall()
    assert got == pytest.approx(psi(values, reference), abs=1e-9)
