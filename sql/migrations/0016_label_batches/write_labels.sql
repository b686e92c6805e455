-- Applied by migration 0016 (label batches): scoring.write_labels, the set-based
-- counterpart of scoring.write_label for the owner (simulated analysts, replays),
-- and the comment of scoring.labels that names it.
--
-- What `update scoring.predictions set true_value, label_note, labeled_at, labeled_by`
-- does through scoring.write_label (scoring/write_label.sql), one row at a time, done for
-- a whole batch in a few statements: the same scoring.labels rows and the same
-- scoring.label_events rows (all but label_event_id) for the same input. Each branch of
-- the trigger has its counterpart here:
--   - a transaction without a score (no row of the view) is left alone, and so is a null
--     transaction id;
--   - features.lock_ingest() is taken (once), then the prior labels are locked;
--   - a label whose value and note are already so is a no-op (no audit row);
--   - a changed note that holds a card number fails the whole call (check_violation);
--   - a change arrives at the given labeled_at (now() when it equals the label's
--     current labeled_at, as an UPDATE that leaves the column alone), never before the
--     event clock, by p_labeled_by (session_user when it equals the label's current
--     author); a note-only change keeps the label's labeled_at / labeled_by and is
--     audited with its own time and author; recorded_by is session_user.
-- One label per transaction: a transaction id twice in one call is refused (the trigger
-- would apply the first row and compare the next with it), as are arrays of unequal
-- length. Returns the number of labels changed (audit rows appended).
--
-- A null labeled_at or labeled_by does what setting the view's column to null does: the
-- change arrives at the event clock (now() if the label had no labeled_at), and a value
-- change without an author fails (not null). Only the owner may run it: it
-- takes labeled_at and labeled_by from the caller, which analysts may not set. Timings:
-- docs/labels.md.

create function scoring.write_labels(
    p_transaction_ids bigint[],
    p_values boolean[],
    p_labeled_at timestamptz[],
    p_notes text[],
    p_labeled_by text
) returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    n integer := cardinality(p_transaction_ids);
    duplicate bigint;
    changed bigint;
begin
    if n is null or cardinality(p_values) is distinct from n
       or cardinality(p_labeled_at) is distinct from n
       or cardinality(p_notes) is distinct from n then
        raise exception 'scoring.write_labels needs four arrays of one length, not % ids, '
                        '% values, % labeled_at and % notes',
                        cardinality(p_transaction_ids), cardinality(p_values),
                        cardinality(p_labeled_at), cardinality(p_notes)
            using errcode = 'invalid_parameter_value';
    end if;
    select i into duplicate from unnest(p_transaction_ids) as i
    where i is not null group by i having count(*) > 1 limit 1;
    if found then
        raise exception 'scoring.write_labels got transaction % more than once', duplicate
            using errcode = 'invalid_parameter_value',
                  hint = 'A transaction has one label: send each transaction once.';
    end if;

    -- Serialise with ingest (the event clock) and with other writers of these labels.
    perform features.lock_ingest();
    perform from scoring.labels as l
    where l.transaction_id = any(p_transaction_ids)
    order by l.transaction_id
    for update;

    if exists (
        select
        from unnest(p_transaction_ids, p_values, p_notes) as r (transaction_id, value, note)
        left join scoring.labels as l using (transaction_id)
        where (r.value is distinct from l.true_value or r.note is distinct from l.label_note)
          and exists (select from scoring.scores as s where s.transaction_id = r.transaction_id)
          and ingest.has_card_number(r.note)
    ) then
        raise exception 'label_note holds a card number; no card number is stored in clear'
            using errcode = 'check_violation',
                  hint = 'Write its last 4 digits at most (the transaction has card_last4).';
    end if;

    with requested as (
        select r.ordinal, r.transaction_id, r.value, r.labeled_at, r.note
        from unnest(p_transaction_ids, p_values, p_labeled_at, p_notes)
            with ordinality as r (transaction_id, value, labeled_at, note, ordinal)
        where exists (select from scoring.scores as s where s.transaction_id = r.transaction_id)
    ),

    prior as (
        select q.ordinal, q.transaction_id, q.value, q.labeled_at, q.note,
               l.true_value as old_value, l.label_note as old_note,
               l.labeled_at as old_labeled_at, l.labeled_by as old_labeled_by
        from requested as q
        left join scoring.labels as l using (transaction_id)
    ),

    changes as (
        select p.ordinal, p.transaction_id, p.value, p.note, p.old_value, p.old_note,
               p.value is distinct from p.old_value as changes_value,
               p.old_labeled_at, p.old_labeled_by,
               greatest(
                   case when p.labeled_at is distinct from p.old_labeled_at then p.labeled_at
                        else now() end,
                   (select max_transacted_at from ingest.event_clock)) as change_at,
               case when p_labeled_by is distinct from p.old_labeled_by then p_labeled_by
                    else session_user end as change_by
        from prior as p
        where p.value is distinct from p.old_value or p.note is distinct from p.old_note
    ),

    upserted as (
        insert into scoring.labels (transaction_id, true_value, labeled_at, labeled_by,
                                    label_note, updated_at)
        select c.transaction_id, c.value,
               case when c.changes_value then c.change_at else c.old_labeled_at end,
               case when c.changes_value then c.change_by else c.old_labeled_by end,
               c.note, c.change_at
        from changes as c
        order by c.transaction_id
        on conflict (transaction_id) do update
        set true_value = excluded.true_value, labeled_at = excluded.labeled_at,
            labeled_by = excluded.labeled_by, label_note = excluded.label_note,
            updated_at = excluded.updated_at
    )

    insert into scoring.label_events (transaction_id, merchant, transacted_at, old_value,
                                      new_value, old_note, label_note, labeled_at,
                                      labeled_by)
    select c.transaction_id, t.merchant, t.transacted_at, c.old_value, c.value, c.old_note,
           c.note, c.change_at, c.change_by
    from changes as c
    join ingest.transactions as t using (transaction_id)
    order by c.ordinal;
    get diagnostics changed = row_count;
    return changed;
end;
$$;

comment on function scoring.write_labels(bigint[], boolean[], timestamptz[], text[], text) is
    'Owner only: sets many transactions'' labels at once, stamped and audited exactly as '
    'scoring.write_label does row by row; returns the number changed.';

revoke all on function scoring.write_labels(bigint[], boolean[], timestamptz[], text[], text)
    from public;

comment on table scoring.labels is
    'The one current label per transaction; written only through scoring.predictions '
    '(scoring.write_label) or, by the owner, scoring.write_labels; history in '
    'scoring.label_events.';
