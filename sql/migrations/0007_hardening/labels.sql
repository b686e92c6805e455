-- One label per transaction, every change audited. Applied by migration 0007.
--
-- Until 0006 the label lived on every prediction row: with shadow models one
-- transaction had several labels that could disagree, labelling it wrote one audit row
-- per model, a note-only change left no audit row, and the scorer could INSERT a row
-- that was already labelled. Now:
--   * scoring.scores holds what models said: one row per (transaction, model), written
--     by the scorer, never updated (the 0001 table scoring.predictions, renamed, without
--     its label columns);
--   * scoring.labels holds what analysts say: one row per transaction, written only by
--     scoring.write_label;
--   * scoring.predictions is the view analysts and dashboards always used: every score
--     with its transaction's label. `update scoring.predictions set true_value = ...`
--     still works: an INSTEAD OF trigger (scoring.write_label) applies it to the
--     transaction's one label, stamps it, and appends one row per change of value or
--     note to scoring.label_events. The other model rows of the same transaction then
--     see the same label, and their update is a no-op (no second audit row).
--
-- A note that holds a card number is refused (no card number at rest, whoever types it).
--
-- Stamps: a change arrives at now(), never before the event clock (labels must not
-- arrive "before" transactions already featurized; see sql/features/label_events.sql),
-- by session_user. Only a session that may update labeled_at / labeled_by on the view
-- (the owner: simulated analysts and replays write event-time arrivals) can set them;
-- analysts have no such privilege. labeled_at / labeled_by on the label are the arrival
-- and author of its current value; a note-only change keeps them and is audited with
-- its own time and author.

drop view scoring.review_queue;
drop index scoring.predictions_unlabelled_idx;
drop trigger predictions_stamp_label on scoring.predictions;
drop trigger predictions_record_label_event on scoring.predictions;
drop function scoring.stamp_label();
drop function scoring.record_label_event();

create table scoring.labels (
    transaction_id  bigint primary key references ingest.transactions (transaction_id),
    true_value      boolean,                  -- NULL: no label (never set, or cleared)
    labeled_at      timestamptz,              -- arrival of the current value
    labeled_by      text,                     -- author of the current value
    label_note      text,
    updated_at      timestamptz not null,     -- the latest change of value or note

    constraint labels_stamped_check
        check (true_value is null or (labeled_at is not null and labeled_by is not null))
);

comment on table scoring.labels is
    'The one current label per transaction; written only through scoring.predictions '
    '(scoring.write_label), history in scoring.label_events.';

create index labels_labeled_at_idx on scoring.labels (labeled_at) where true_value is not null;

-- Existing labels: the champion's row, else the most recently labelled row.
insert into scoring.labels (transaction_id, true_value, labeled_at, labeled_by, label_note,
                            updated_at)
select distinct on (transaction_id)
       transaction_id, true_value, labeled_at, labeled_by, label_note,
       coalesce(labeled_at, scored_at)
from scoring.predictions
where true_value is not null or label_note is not null
order by transaction_id, is_shadow, labeled_at desc nulls last, prediction_id;

alter table scoring.predictions rename to scores;
alter table scoring.scores rename constraint predictions_transaction_model_key
    to scores_transaction_model_key;
alter table scoring.scores rename constraint predictions_score_check to scores_score_check;
alter table scoring.scores rename constraint predictions_threshold_check
    to scores_threshold_check;
alter table scoring.scores rename constraint predictions_latency_ms_check
    to scores_latency_ms_check;
alter table scoring.scores rename constraint predictions_pkey to scores_pkey;
alter table scoring.scores rename constraint predictions_transaction_id_fkey
    to scores_transaction_id_fkey;
alter table scoring.scores rename constraint predictions_model_version_fkey
    to scores_model_version_fkey;
alter index scoring.predictions_scored_at_idx rename to scores_scored_at_idx;
alter sequence scoring.predictions_prediction_id_seq rename to scores_prediction_id_seq;
drop index scoring.predictions_labeled_at_idx;
alter table scoring.scores
    drop constraint predictions_label_stamped_check,
    drop column true_value,
    drop column labeled_at,
    drop column labeled_by,
    drop column label_note;

comment on table scoring.scores is
    'One row per (transaction, model): score and decision. Written by the scorer, never updated.';

create view scoring.predictions as
select
    s.prediction_id,
    s.transaction_id,
    s.model_version,
    s.feature_set_version,
    s.is_shadow,
    s.score,
    s.threshold,
    s.is_alert,
    s.scored_at,
    s.latency_ms,
    l.true_value,
    l.labeled_at,
    l.labeled_by,
    l.label_note
from scoring.scores as s
left join scoring.labels as l using (transaction_id);

comment on view scoring.predictions is
    'Every score with its transaction''s label. Analysts set true_value and label_note here '
    '(one label per transaction; stamped and audited by scoring.write_label).';

alter table scoring.label_events
    add column old_note text,
    add column recorded_by text not null default session_user;

comment on column scoring.label_events.labeled_at is
    'When this change arrived (event clock at the earliest).';
comment on column scoring.label_events.labeled_by is
    'Who made this change: the session user, or the author an owner session named '
    '(simulated analysts, replays).';
comment on column scoring.label_events.recorded_by is
    'The session user that wrote this change, always.';

create function scoring.write_label() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    prior scoring.labels;
    changes_value boolean;
    change_at timestamptz;
    change_by text;
begin
    if (new.prediction_id, new.transaction_id, new.model_version, new.feature_set_version,
        new.is_shadow, new.score, new.threshold, new.is_alert, new.scored_at,
        new.latency_ms)
       is distinct from
       (old.prediction_id, old.transaction_id, old.model_version, old.feature_set_version,
        old.is_shadow, old.score, old.threshold, old.is_alert, old.scored_at,
        old.latency_ms) then
        raise exception 'only true_value and label_note can be changed in scoring.predictions'
            using errcode = 'feature_not_supported',
                  hint = 'Scores are what a model said; they are never updated.';
    end if;
    -- Serialise with ingest (the event clock) and with other writers of this label.
    perform features.lock_ingest();
    select * into prior from scoring.labels where transaction_id = new.transaction_id
        for update;
    changes_value := new.true_value is distinct from prior.true_value;
    if not changes_value and new.label_note is not distinct from prior.label_note then
        return null;  -- already so (e.g. another model's row of the same transaction)
    end if;
    if ingest.has_card_number(new.label_note) then
        raise exception 'label_note holds a card number; no card number is stored in clear'
            using errcode = 'check_violation',
                  hint = 'Write its last 4 digits at most (the transaction has card_last4).';
    end if;

    change_at := greatest(
        case when new.labeled_at is distinct from old.labeled_at then new.labeled_at
             else now() end,
        (select max_transacted_at from ingest.event_clock));
    change_by := case when new.labeled_by is distinct from old.labeled_by
                      then new.labeled_by else session_user end;
    new.labeled_at := case when changes_value then change_at else prior.labeled_at end;
    new.labeled_by := case when changes_value then change_by else prior.labeled_by end;

    insert into scoring.labels (transaction_id, true_value, labeled_at, labeled_by,
                                label_note, updated_at)
    values (new.transaction_id, new.true_value, new.labeled_at, new.labeled_by,
            new.label_note, change_at)
    on conflict (transaction_id) do update
    set true_value = excluded.true_value, labeled_at = excluded.labeled_at,
        labeled_by = excluded.labeled_by, label_note = excluded.label_note,
        updated_at = excluded.updated_at;

    insert into scoring.label_events (transaction_id, merchant, transacted_at, old_value,
                                      new_value, old_note, label_note, labeled_at,
                                      labeled_by)
    select new.transaction_id, t.merchant, t.transacted_at, prior.true_value,
           new.true_value, prior.label_note, new.label_note, change_at, change_by
    from ingest.transactions as t
    where t.transaction_id = new.transaction_id;
    return new;
end;
$$;

comment on function scoring.write_label() is
    'INSTEAD OF UPDATE on scoring.predictions: sets the transaction''s one label, stamped, '
    'and appends the change to scoring.label_events.';

revoke all on function scoring.write_label() from public;

create trigger predictions_write_label
    instead of update on scoring.predictions
    for each row
    execute function scoring.write_label();

-- The investigators' review queue (0006), now reading the one label per transaction.
create view scoring.review_queue as
select
    a.alert_id,
    a.transaction_id,
    a.transacted_at,
    a.card_last4,
    a.amount,
    a.merchant,
    a.category,
    round(a.score::numeric, 4)      as score,
    round(a.threshold::numeric, 4)  as threshold,
    a.model_version,
    a.reasons,
    f.card_tx_count_24h,
    f.card_amount_sum_24h,
    round(f.km_from_home::numeric, 1)            as km_from_home,
    round(f.speed_kmh_from_previous::numeric, 0) as speed_kmh_from_previous,
    history.recent                                as card_recent_transactions,
    a.created_at                                  as alerted_at
from scoring.alerts as a
join ingest.transactions as t using (transaction_id)
left join features.transaction_features as f using (transaction_id)
left join lateral (
    select jsonb_agg(jsonb_build_object(
               'transacted_at', r.transacted_at, 'amount', r.amount,
               'merchant', r.merchant, 'category', r.category)
           order by r.transacted_at desc) as recent
    from (
        select r.transacted_at, r.amount, r.merchant, r.category
        from ingest.transactions as r
        where r.card_token = t.card_token
          and (r.transacted_at, r.transaction_id) < (t.transacted_at, t.transaction_id)
        order by r.transacted_at desc, r.transaction_id desc
        limit 5
    ) as r
) as history on true
where not exists (
    select from scoring.labels as l
    where l.transaction_id = a.transaction_id and l.true_value is not null
)
order by a.score desc, a.alert_id;

comment on view scoring.review_queue is
    'Unlabelled alerts, highest score first, with reason codes and the card''s last 5 '
    'transactions before it.';
