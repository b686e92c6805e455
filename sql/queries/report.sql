-- Queries of the HTML report (pgfraud/monitoring/report.py) beside the panels' own SQL.

-- name: mart_freshness
-- How far the marts reach: the newest transaction's event time when they were built
-- (dbt mart fct_mart_freshness; read as the reader role).
select event_clock_at from analytics.fct_mart_freshness;

-- name: event_clock
-- The newest transaction's event time now (as the connecting user, not the reader).
select max_transacted_at from ingest.event_clock;

-- name: decisions_needing_attention
-- Guardrail events and parity failures, newest first (dbt mart fct_model_decisions;
-- read as the reader role).
select retrain_decision_id, decided_at, outcome, rule, detail
from analytics.fct_model_decisions
where needs_attention
order by decided_at desc, retrain_decision_id desc
limit 3;
