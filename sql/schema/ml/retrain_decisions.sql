-- Retraining decisions: every `pgfraud retrain` round (and every guardrail check or
-- manual promotion) records what it saw and what it did (docs/models.md, "Promotion on
-- evidence").
--
-- rule: the gate that decided (the full list is in the check constraint below and in
-- docs/models.md). evidence: the numbers that gate looked at, for example the paired
-- bootstrap of the average-precision difference, or the live score PSI that tripped a
-- guardrail. Every new decision is also sent on channel pgfraud_decisions, so an operator
-- (or a chat bridge) hears about a rollback or a parity failure the moment it happens.
--
-- decided_at is the wall clock of the round. A replay decides a whole backtest in
-- minutes, so every decision of a six-month file shares one afternoon; event_at is the
-- moment in event time the round decided as of: min(the round's cutoff, the event clock),
-- the end of the windows its evidence was measured over. Live, the two are close.

create table ml.retrain_decisions (
    retrain_decision_id     bigint generated always as identity primary key,
    decided_at              timestamptz not null default now(),
    decided_by              text not null default session_user,
    trigger_reason          text not null,            -- see retrain_decisions_trigger_check
    new_labels              integer not null,         -- label events since the last training
    min_new_labels          integer not null,
    champion_version        integer references ml.models (model_version),
    challenger_version      integer references ml.models (model_version),
    evaluated_from          timestamptz,              -- matured-label window both were scored on
    evaluated_to            timestamptz,
    evaluated_rows          integer,
    evaluated_positives     integer,
    champion_metrics        jsonb,
    challenger_metrics      jsonb,
    max_psi                 double precision,         -- the largest feature PSI seen
    max_psi_feature         text,
    margin                  double precision not null,
    outcome                 text not null,            -- see retrain_decisions_outcome_check
    detail                  text,
    rule                    text,
    evidence                jsonb not null default '{}',
    event_at                timestamptz,

    constraint retrain_decisions_trigger_check check (trigger_reason in (
        'new_labels', 'drift', 'forced', 'not_triggered',  -- a training was (not) triggered
        'shadow_evidence',                                 -- a shadow challenger was judged
        'guardrail',                                       -- the serving champion was checked
        'manual')),                                        -- pgfraud models promote
    constraint retrain_decisions_outcome_check check (outcome in (
        'promoted', 'kept_champion', 'skipped', 'rolled_back')),
    constraint retrain_decisions_rule_check check (rule is null or rule in (
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
        'guardrail_score_psi', 'guardrail_alert_rate', 'guardrail_no_fallback'))
);

comment on table ml.retrain_decisions is
    'Each retraining decision with its numbers: trigger, labels, metrics of both models, outcome.';
comment on column ml.retrain_decisions.rule is
    'The gate that decided (docs/models.md lists them); NULL on decisions before migration 0008.';
comment on column ml.retrain_decisions.evidence is
    'The numbers the deciding gate used: paired bootstrap, frauds, shadow days, PSI, alert rate.';
comment on column ml.retrain_decisions.event_at is
    'Event time the round decided as of (cutoff or event clock, the earlier); decided_at is wall time.';

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

revoke all on function ml.refuse_card_numbers_in_decision(), ml.announce_decision()
    from public;

-- trainer: records its decisions and reads earlier ones.
grant select, insert on ml.retrain_decisions to pgfraud_trainer;
