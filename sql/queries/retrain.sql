-- Queries of retraining decisions and the replay (scorer/retrain.py, scorer/replay.py).

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
-- Challengers earlier retraining decisions left in shadow.
select d.challenger_version from ml.retrain_decisions d
join ml.models m on m.model_version = d.challenger_version
where m.status = 'shadow';

-- name: record_decision
insert into ml.retrain_decisions (trigger_reason, new_labels, min_new_labels,
    champion_version, challenger_version, evaluated_from, evaluated_to, evaluated_rows,
    evaluated_positives, champion_metrics, challenger_metrics, max_psi, max_psi_feature,
    margin, outcome, detail)
values (%(trigger_reason)s, %(new_labels)s, %(min_new_labels)s, %(champion_version)s,
    %(challenger_version)s, %(evaluated_from)s, %(evaluated_to)s, %(evaluated_rows)s,
    %(evaluated_positives)s, %(champion_metrics)s, %(challenger_metrics)s, %(max_psi)s,
    %(max_psi_feature)s, %(margin)s, %(outcome)s, %(detail)s)
returning retrain_decision_id;

-- name: largest_drift
-- The champion's most drifted feature (or score) over a window.
select feature, psi, observations from ml.feature_drift(%(model)s::integer, %(from)s, %(to)s)
order by psi desc limit 1;

-- name: event_time_bounds
-- The event times ingest accepts for a historical file (ingest.event_time_policy).
select earliest_event_at, now() + max_ahead from ingest.event_time_policy;

-- name: replay_outcomes
-- Champion decisions on replayed transactions against the file's is_fraud (owner).
select extract(epoch from t.transacted_at)::float8, t.card_token, p.score, p.is_alert,
       f.trans_num is not null, p.model_version
from scoring.predictions p
join ingest.transactions t using (transaction_id)
left join truth.fraud_transactions f using (trans_num)
where not p.is_shadow and t.source = 'replay'
order by t.transacted_at, t.transaction_id;

-- name: analyze_after_bulk_load
-- Bulk loading outruns autovacuum's ANALYZE; without statistics the planner picks
-- nested loops for the claim and label queries. Used by replay and the demo.
analyze ingest.transactions, features.transaction_features, scoring.pending,
        scoring.scores, scoring.labels, scoring.label_events;
