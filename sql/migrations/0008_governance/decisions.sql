-- Promotion decisions say which rule decided them, with the numbers behind it.
-- Applied by migration 0008 (docs/models.md, "Promotion on evidence").
--
-- rule: the gate that decided (the full list is in the check constraint below and in
-- docs/models.md). evidence: the numbers that gate looked at, for example the paired
-- bootstrap of the average-precision difference, or the live score PSI that tripped a
-- guardrail. Every new decision is also sent on channel pgfraud_decisions, so an operator
-- (or a chat bridge) hears about a rollback or a parity failure the moment it happens.

alter table ml.retrain_decisions
    add column rule text,
    add column evidence jsonb not null default '{}';

alter table ml.retrain_decisions
    drop constraint retrain_decisions_trigger_check,
    add constraint retrain_decisions_trigger_check check (trigger_reason in (
        'new_labels', 'drift', 'forced', 'not_triggered',  -- a training was (not) triggered
        'shadow_evidence',                                 -- a shadow challenger was judged
        'guardrail',                                       -- the serving champion was checked
        'manual')),                                        -- pgfraud models promote
    drop constraint retrain_decisions_outcome_check,
    add constraint retrain_decisions_outcome_check check (outcome in (
        'promoted', 'kept_champion', 'skipped', 'rolled_back')),
    add constraint retrain_decisions_rule_check check (rule is null or rule in (
        -- promoted
        'no_champion', 'evidence', 'forced',
        -- kept the champion: the challenger is still gathering evidence
        'shadow_period', 'too_few_frauds',
        -- kept the champion: the challenger lost, or may not serve at all
        'not_better', 'tie', 'cannot_rank', 'weak_validation', 'too_few_training_frauds',
        'parity_failed', 'shadow_collapse', 'shadow_expired',
        -- skipped
        'not_triggered', 'training_refused', 'challenger_pending',
        -- guardrails on the serving champion
        'guardrail_score_psi', 'guardrail_alert_rate', 'guardrail_no_fallback'));

comment on column ml.retrain_decisions.rule is
    'The gate that decided (docs/models.md lists them); NULL on decisions before migration 0008.';
comment on column ml.retrain_decisions.evidence is
    'The numbers the deciding gate used: paired bootstrap, frauds, shadow days, PSI, alert rate.';

-- Decisions are free text in part (a manual override's reason): no card number may be
-- stored in them, whoever inserts the row (docs/producer.md, "no card number at rest").
create function ml.refuse_card_numbers_in_decision() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if ingest.has_card_number(new.detail) or ingest.has_card_number(new.evidence::text) then
        raise exception 'a retraining decision holds a card number; no card number is '
                        'stored in clear'
            using errcode = 'check_violation',
                  hint = 'Write its last 4 digits at most.';
    end if;
    return new;
end;
$$;

create trigger retrain_decisions_refuse_card_numbers
    before insert on ml.retrain_decisions
    for each row
    execute function ml.refuse_card_numbers_in_decision();

create function ml.announce_decision() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pg_notify('pgfraud_decisions',
                      json_build_object('retrain_decision_id', new.retrain_decision_id,
                                        'outcome', new.outcome, 'rule', new.rule,
                                        'champion_version', new.champion_version,
                                        'challenger_version', new.challenger_version,
                                        'detail', left(new.detail, 4000))::text);
    return null;
end;
$$;

create trigger retrain_decisions_announce
    after insert on ml.retrain_decisions
    for each row
    execute function ml.announce_decision();
