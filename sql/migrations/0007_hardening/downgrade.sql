-- Undo migration 0007: back to labels on prediction rows, producer INSERT on the stored
-- tables, trainer INSERT on ml.models, 0002's accept_batch, no event-time policy.
-- (Frozen copies of the 0002-0006 definitions this migration replaced.)

-- The functions 0006 left executable by PUBLIC.
grant execute on function
    features.distance_km(double precision, double precision, double precision,
                         double precision),
    features.before_transactions_insert(), features.after_transactions_insert(),
    features.compute_range(bigint, bigint), ml.model_status(integer), ml.champion_stack(),
    scoring.alert_json(scoring.alerts), ml.feature_drift(integer, timestamptz, timestamptz)
    to public;
revoke execute on function scoring.alert_json(scoring.alerts) from pgfraud_scorer, pgfraud_analyst;

-- Registry (0004).
drop function ml.register_model(bytea, text, text[], integer, double precision,
    timestamptz, timestamptz, timestamptz, jsonb, jsonb, jsonb, text);
drop function ml.link_training_run(bigint);
create or replace function ml.record_model_event() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into ml.model_events (model_version, action, old_status, new_status)
    values (new.model_version,
            coalesce(nullif(current_setting('pgfraud.model_action', true), ''),
                     case tg_op when 'INSERT' then 'register' else 'update' end),
            case tg_op when 'UPDATE' then old.status end,
            new.status);
    perform pg_notify('pgfraud_models',
                      json_build_object('model_version', new.model_version,
                                        'status', new.status)::text);
    return null;
end;
$$;
grant insert on ml.models to pgfraud_trainer;
grant update (training_run_id) on ml.models to pgfraud_trainer;

-- Labels back on prediction rows (0001, 0003, 0006).
drop view scoring.review_queue;
drop view scoring.predictions;
drop function scoring.write_label();
alter table scoring.scores rename to predictions;
alter table scoring.predictions rename constraint scores_transaction_model_key
    to predictions_transaction_model_key;
alter table scoring.predictions rename constraint scores_score_check to predictions_score_check;
alter table scoring.predictions rename constraint scores_threshold_check
    to predictions_threshold_check;
alter table scoring.predictions rename constraint scores_latency_ms_check
    to predictions_latency_ms_check;
alter table scoring.predictions rename constraint scores_pkey to predictions_pkey;
alter table scoring.predictions rename constraint scores_transaction_id_fkey
    to predictions_transaction_id_fkey;
alter table scoring.predictions rename constraint scores_model_version_fkey
    to predictions_model_version_fkey;
alter index scoring.scores_scored_at_idx rename to predictions_scored_at_idx;
alter sequence scoring.scores_prediction_id_seq rename to predictions_prediction_id_seq;
alter table scoring.predictions
    add column true_value boolean,
    add column labeled_at timestamptz,
    add column labeled_by text,
    add column label_note text;
update scoring.predictions as p
set true_value = l.true_value, labeled_at = coalesce(l.labeled_at, l.updated_at),
    labeled_by = l.labeled_by, label_note = l.label_note
from scoring.labels as l
where l.transaction_id = p.transaction_id;
alter table scoring.predictions add constraint predictions_label_stamped_check
    check (true_value is null or labeled_at is not null);
create index predictions_labeled_at_idx on scoring.predictions (labeled_at)
    where labeled_at is not null;
comment on table scoring.predictions is
    'One row per (transaction, model). Analysts fill true_value; labeled_at/labeled_by are stamped.';
drop table scoring.labels;
alter table scoring.label_events drop column old_note, drop column recorded_by;

create function scoring.stamp_label() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    clock timestamptz;
begin
    perform features.lock_ingest();
    select max_transacted_at into clock from ingest.event_clock;
    if new.labeled_at is not distinct from old.labeled_at then
        new.labeled_at := now();
    end if;
    new.labeled_at := greatest(new.labeled_at, clock);
    if new.labeled_by is not distinct from old.labeled_by then
        new.labeled_by := session_user;
    end if;
    return new;
end;
$$;

create trigger predictions_stamp_label
    before update of true_value, label_note on scoring.predictions
    for each row
    when (old.true_value is distinct from new.true_value
          or old.label_note is distinct from new.label_note)
    execute function scoring.stamp_label();

create function scoring.record_label_event() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into scoring.label_events (transaction_id, merchant, transacted_at, old_value,
                                      new_value, labeled_at, labeled_by, label_note)
    select new.transaction_id, t.merchant, t.transacted_at, old.true_value, new.true_value,
           new.labeled_at, new.labeled_by, new.label_note
    from ingest.transactions as t
    where t.transaction_id = new.transaction_id;
    return null;
end;
$$;

create trigger predictions_record_label_event
    after update of true_value on scoring.predictions
    for each row
    when (old.true_value is distinct from new.true_value)
    execute function scoring.record_label_event();

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
    select from scoring.predictions as p
    where p.transaction_id = a.transaction_id and p.true_value is not null
)
order by a.score desc, a.alert_id;

comment on view scoring.review_queue is
    'Unlabelled alerts, highest score first, with reason codes and the card''s last 5 '
    'transactions before it.';

-- Unlabelled champion predictions: what simulated analysts and replays look through
-- each round. Without it every round scans every prediction ever made.
create index predictions_unlabelled_idx on scoring.predictions (transaction_id)
    where true_value is null and not is_shadow;


-- Grants of 0001, 0005 and 0006 on what 0007 changed.
revoke all on scoring.predictions from pgfraud_scorer, pgfraud_analyst;
grant select, insert on scoring.predictions to pgfraud_scorer;
grant select, update (true_value, label_note) on scoring.predictions to pgfraud_analyst;
grant select on scoring.review_queue to pgfraud_analyst;
revoke all on scoring.alerts from pgfraud_scorer;
grant select, insert on scoring.alerts to pgfraud_scorer;
revoke insert on ingest.staged_transactions from pgfraud_producer;
grant insert on ingest.staged_transactions, ingest.transactions, ingest.quarantine
    to pgfraud_producer;

-- accept_batch of 0002.
drop function ingest.accept_batch(uuid);
alter table ingest.staged_transactions drop column refusal;
create function ingest.accept_batch(
    p_batch_id uuid,
    out accepted bigint,
    out duplicates bigint,
    out conflicts bigint,
    out quarantined bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    staged bigint;
begin
    -- Event-time order keeps transaction_id close to event order within a batch.
    insert into ingest.transactions (
        trans_num, transacted_at, card_token, card_last4, amount, merchant, category,
        merchant_lat, merchant_long, home_lat, home_long, city_pop, cardholder_birth_date,
        payload_sha256, source
    )
    select
        trans_num, transacted_at, card_token, card_last4, amount, merchant, category,
        merchant_lat, merchant_long, home_lat, home_long, city_pop, cardholder_birth_date,
        payload_sha256, source
    from ingest.staged_transactions
    where batch_id = p_batch_id
    order by transacted_at, ordinal
    on conflict (trans_num) do nothing;
    get diagnostics accepted = row_count;

    -- A new statement sees what concurrent producers committed meanwhile (ON CONFLICT
    -- waited for them), so every staged row now has a stored row under its trans_num:
    -- itself, an identical re-send, or a conflicting payload.
    -- Conflicts are counted per staged row, stored once per distinct payload.
    with conflicting as (
        select
            staged_row.trans_num,
            format('trans_num already stored as transaction %s with a different payload; kept the stored row',
                   stored.transaction_id) as detail,
            to_jsonb(staged_row) - 'batch_id' - 'ordinal' - 'is_fraud' - 'fraud_scenario'
                - 'incident_id' as raw_payload,
            staged_row.source
        from ingest.staged_transactions as staged_row
        join ingest.transactions as stored using (trans_num)
        where staged_row.batch_id = p_batch_id
          and staged_row.payload_sha256 <> stored.payload_sha256
    ),
    stored_conflicts as (
        insert into ingest.quarantine (trans_num, reason, detail, raw_payload, raw_sha256, source)
        select trans_num, 'conflict', detail, raw_payload,
               encode(sha256(convert_to(source || ':conflict:' || raw_payload::text, 'UTF8')), 'hex'),
               source
        from conflicting
        on conflict (raw_sha256) do nothing
    )
    select count(*) into conflicts from conflicting;

    insert into truth.fraud_transactions (trans_num, scenario, incident_id)
    select staged_row.trans_num, staged_row.fraud_scenario, staged_row.incident_id
    from ingest.staged_transactions as staged_row
    join ingest.transactions as stored using (trans_num)
    where staged_row.batch_id = p_batch_id
      and staged_row.is_fraud
      and staged_row.payload_sha256 = stored.payload_sha256
    on conflict (trans_num) do nothing;

    insert into ingest.quarantine (trans_num, reason, detail, raw_payload, raw_sha256, source)
    select trans_num, reason, detail, raw_payload, raw_sha256, source
    from ingest.staged_quarantine
    where batch_id = p_batch_id
    on conflict (raw_sha256) do nothing;
    get diagnostics quarantined = row_count;

    delete from ingest.staged_quarantine where batch_id = p_batch_id;
    delete from ingest.staged_transactions where batch_id = p_batch_id;
    get diagnostics staged = row_count;
    duplicates := staged - accepted - conflicts;
end;
$$;

comment on function ingest.accept_batch(uuid) is
    'Move one staged COPY batch into ingest.transactions and ingest.quarantine: new rows stored, re-sends skipped, conflicts quarantined.';

revoke all on function ingest.accept_batch(uuid) from public;

grant execute on function ingest.accept_batch(uuid) to pgfraud_producer;

-- Card numbers in text and the event-time policy.
drop function ingest.has_card_number(text);
drop function if exists ingest.luhn_valid(text);
drop trigger event_clock_record_change on ingest.event_clock;
drop function ingest.set_event_time_policy(timestamptz, interval, text);
drop function ingest.repair_event_clock(timestamptz, text);
drop table ingest.event_time_policy, ingest.event_clock_changes;
drop function ingest.record_clock_change();
drop function ingest.change_reason();
