-- Queries of retraining decisions and the replay (pgfraud/lifecycle/retrain.py, pgfraud/backtest/replay.py).

-- name: new_labels
-- Transactions labelled (a value set or changed; notes do not count) after the last
-- training on labels, by the cutoff.
select count(distinct transaction_id) from scoring.label_events
where new_value is not null and new_value is distinct from old_value
  and labeled_at <= %(cutoff)s
  and labeled_at > coalesce((select max(label_cutoff_at) from ml.training_runs
                             where mode = 'labels' and label_cutoff_at <= %(cutoff)s),
                            '-infinity');

-- name: previous_challengers
-- Challengers earlier retraining decisions left in shadow, each once (a challenger
-- gathering evidence is named by one decision per round).
select distinct d.challenger_version from ml.retrain_decisions d
join ml.models m on m.model_version = d.challenger_version
where m.status = 'shadow'
order by 1;

-- name: record_decision
-- One decision, with the rule that decided it and that rule's numbers (migration 0008)
-- and the event time it was made at (0009).
insert into ml.retrain_decisions (trigger_reason, new_labels, min_new_labels,
    champion_version, challenger_version, evaluated_from, evaluated_to, evaluated_rows,
    evaluated_positives, champion_metrics, challenger_metrics, max_psi, max_psi_feature,
    margin, outcome, detail, rule, evidence, event_at)
values (%(trigger_reason)s, %(new_labels)s, %(min_new_labels)s, %(champion_version)s,
    %(challenger_version)s, %(evaluated_from)s, %(evaluated_to)s, %(evaluated_rows)s,
    %(evaluated_positives)s, %(champion_metrics)s, %(challenger_metrics)s, %(max_psi)s,
    %(max_psi_feature)s, %(margin)s, %(outcome)s, %(detail)s, %(rule)s, %(evidence)s,
    %(event_at)s)
returning retrain_decision_id;

-- name: event_now
-- "Now" in event time, for windows over transactions (shadow period, guardrails): the
-- event clock, unless the cutoff lies before it (a replay deciding as of a past moment).
select least(%(cutoff)s::timestamptz, (select max_transacted_at from ingest.event_clock));

-- name: shadow_since
-- Event time of a challenger's first shadow score that counts as evidence
-- (ml.shadow_since, sql/governance/evidence.sql).
select ml.shadow_since(%(challenger)s::integer);

-- name: paired_live_scores
-- The champion's and the challenger's live scores of the same transactions, with matured
-- labels (ml.paired_live_scores, sql/governance/evidence.sql).
select champion_score, challenger_score, is_fraud::int
from ml.paired_live_scores(%(champion)s::integer, %(challenger)s::integer,
                           %(cutoff)s, %(matured_to)s);

-- name: serving_health
-- A model's live scores over an event-time window against its validation window.
select predictions, score_psi, alert_rate, reference_alert_rate
from ml.serving_health(%(model)s::integer, %(shadow)s, %(from)s, %(to)s);

-- name: champion_since
-- How the champion became champion: its latest event into that status ('promote' or
-- 'rollback'). A guardrail rolls back only a promoted champion, never a restored one.
select action, at from ml.model_events
where model_version = %(model)s and new_status = 'champion'
order by model_event_id desc limit 1;

-- name: model_card
-- A model's metrics (its card) and status.
select metrics, status from ml.models where model_version = %(model)s;

-- name: largest_drift
-- The champion's most drifted feature (or score) over a window.
select feature, psi, observations from ml.feature_drift(%(model)s::integer, %(from)s, %(to)s)
order by psi desc limit 1;

-- name: event_time_bounds
-- The event times ingest accepts for a historical file (ingest.event_time_policy).
select earliest_event_at, now() + max_ahead from ingest.event_time_policy;

-- name: replay_outcomes
-- Champion decisions on replayed transactions against the file's is_fraud (owner),
-- with the amount (value detected).
select extract(epoch from t.transacted_at)::float8, t.card_token, p.score, p.is_alert,
       f.trans_num is not null, p.model_version, t.amount::float8
from scoring.predictions p
join ingest.transactions t using (transaction_id)
left join truth.fraud_transactions f using (trans_num)
where not p.is_shadow and t.source = 'replay'
order by t.transacted_at, t.transaction_id;

-- name: table_counts
-- Stored and quarantined rows, before and after a replay, to check its own counts.
select (select count(*) from ingest.transactions), (select count(*) from ingest.quarantine);

-- name: analyze_after_bulk_load
-- Bulk loading outruns autovacuum's ANALYZE; without statistics the planner picks
-- nested loops for the claim and label queries. Used by the demo (a replay uses the
-- key columns' version below).
analyze ingest.transactions, features.transaction_features, scoring.pending,
        scoring.scores, scoring.labels, scoring.label_events;

-- name: analyze_keys_after_bulk_load
-- The same statistics for a replay's rounds: of the two wide tables only the columns
-- joins and filters read (keys, event time), not the feature values and place columns,
-- which nothing in a replay filters on (0.73 -> 0.35 s at 131k rows). Row counts are
-- refreshed either way; autovacuum's ANALYZE later covers every column.
analyze ingest.transactions (transaction_id, trans_num, transacted_at, card_token, merchant,
                             source),
        features.transaction_features (transaction_id, feature_set_version),
        scoring.pending, scoring.scores, scoring.labels, scoring.label_events;
