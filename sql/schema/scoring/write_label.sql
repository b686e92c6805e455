-- Writing a label: the INSTEAD OF UPDATE trigger of scoring.predictions.
--
-- `update scoring.predictions set true_value = ..., label_note = ...` is applied to the
-- transaction's one label (scoring.labels), stamped, and appended as one row per change
-- of value or note to scoring.label_events. The other model rows of the same transaction
-- then see the same label, and their update is a no-op (no second audit row). Scores
-- themselves are never updated.
--
-- A note that holds a card number is refused (no card number at rest, whoever types it).
--
-- Stamps: a change arrives at now(), never before the event clock (labels must not
-- arrive "before" transactions already featurized; see ingest/event_clock.sql), by
-- session_user. Only a session that may update labeled_at / labeled_by on the view (the
-- owner: simulated analysts and replays write event-time arrivals) can set them; analysts
-- have no such privilege. labeled_at / labeled_by on the label are the arrival and author
-- of its current value; a note-only change keeps them and is audited with its own time
-- and author.

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
