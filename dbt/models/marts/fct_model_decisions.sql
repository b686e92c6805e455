-- Every promotion decision, flagged when it needs a human's attention: a guardrail fired
-- (a champion rolled back, or one that breaks a bound and has nothing to fall back to) or
-- a challenger failed its ONNX parity check. The report shows the flagged ones as a
-- banner; Grafana lists them all (docs/models.md, docs/dashboards.md).

select
    *,
    (trigger_reason = 'guardrail' or rule = 'parity_failed') as needs_attention

from {{ ref('stg_retrain_decisions') }}
