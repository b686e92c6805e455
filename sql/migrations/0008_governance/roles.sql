-- Migration 0008's grants: the trainer runs the guardrails and reads the evidence
-- (scorer/retrain.py); nobody else needs them. Functions are revoked from PUBLIC first
-- (migration 0007's rule).

revoke all on function ml.population_stability(jsonb, double precision[]) from public;
revoke all on function ml.serving_health(integer, boolean, timestamptz, timestamptz) from public;
revoke all on function ml.announce_decision() from public;
revoke all on function ml.refuse_card_numbers_in_decision() from public;
revoke all on function ml.evidence_start(integer) from public;
revoke all on function ml.shadow_since(integer) from public;
revoke all on function ml.paired_live_scores(integer, integer, timestamptz, timestamptz)
    from public;
grant execute on function ml.population_stability(jsonb, double precision[]),
                          ml.serving_health(integer, boolean, timestamptz, timestamptz),
                          ml.shadow_since(integer),
                          ml.paired_live_scores(integer, integer, timestamptz, timestamptz)
    to pgfraud_trainer;
