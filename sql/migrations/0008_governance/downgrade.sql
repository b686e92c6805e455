-- Undo migration 0008. Decisions with the new trigger reasons, outcomes or rules are kept
-- as history but mapped onto the old vocabulary so the old checks hold again.

drop function ml.paired_live_scores(integer, integer, timestamptz, timestamptz);
drop function ml.shadow_since(integer);
drop function ml.evidence_start(integer);
drop function ml.serving_health(integer, boolean, timestamptz, timestamptz);
drop function ml.population_stability(jsonb, double precision[]);
drop trigger retrain_decisions_announce on ml.retrain_decisions;
drop function ml.announce_decision();
drop trigger retrain_decisions_refuse_card_numbers on ml.retrain_decisions;
drop function ml.refuse_card_numbers_in_decision();

alter table ml.retrain_decisions
    drop constraint retrain_decisions_rule_check,
    drop constraint retrain_decisions_trigger_check,
    drop constraint retrain_decisions_outcome_check;

update ml.retrain_decisions
set trigger_reason = 'forced', detail = trigger_reason || ': ' || coalesce(detail, '')
where trigger_reason in ('shadow_evidence', 'guardrail', 'manual');

update ml.retrain_decisions
set outcome = 'kept_champion', detail = 'rolled back: ' || coalesce(detail, '')
where outcome = 'rolled_back';

alter table ml.retrain_decisions
    drop column rule,
    drop column evidence,
    add constraint retrain_decisions_trigger_check
        check (trigger_reason in ('new_labels', 'drift', 'forced', 'not_triggered')),
    add constraint retrain_decisions_outcome_check
        check (outcome in ('promoted', 'kept_champion', 'skipped'));
