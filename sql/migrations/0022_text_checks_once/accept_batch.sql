-- Applied by migration 0022 (issue 19, import at half the speed of a bare COPY): replaces
-- migration 0013's ingest.accept_batch with the same behaviour at less cost per row.
--
--   * The refusal classification searches the text fields (joined by '/') once for what
--     either text check can refuse: a control character, or 13 digits with at most one
--     separator between two (has_card_number's own first test, which every card number
--     passes). Only a row that matches runs the control-character search and
--     has_card_number, in the order they ran before, so every row gets the same refusal.

create or replace function ingest.accept_batch(
    p_batch_id uuid,
    out accepted bigint,
    out duplicates bigint,
    out conflicts bigint,
    out refused jsonb,
    out quarantined bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    staged bigint;
    refused_total bigint;
    new_rows bigint;
    stored_now jsonb;       -- trans_num -> payload_sha256 of the rows this batch stored
    refused_rows bigint;    -- staged rows the database refused
    refused_by text;        -- the unique constraint that refused a key
begin
    -- The ingest lock (also taken by the insert's trigger) now, so the clock and the
    -- policy read below cannot change before this batch commits.
    perform features.lock_ingest();

    with ordered as (
        select s.ordinal, s.trans_num, s.merchant, s.category, s.transacted_at,
               -- The text fields joined by '/' (see above), computed once per row: the
               -- window makes this a subquery the planner does not flatten.
               s.trans_num || '/' || s.merchant || '/' || s.category as fields,
               p.earliest_event_at,
               s.transacted_at > greatest(c.max_transacted_at, now(),
                                          lag(s.transacted_at) over in_time) + p.max_ahead
                   as is_jump
        from ingest.staged_transactions as s
        cross join ingest.event_time_policy as p
        cross join ingest.event_clock as c
        where s.batch_id = p_batch_id
        window in_time as (order by s.transacted_at, s.ordinal)
    ),
    -- Materialized, refused rows only: the update joins a usually empty set. Inlined, the
    -- planner could rescan the whole classification once per staged row (O(batch^2))
    -- when the staging table's statistics say it is empty, as they do after autovacuum
    -- analyses it between batches.
    classified as materialized (
        select ordinal, refusal
        from (
            select ordinal,
                   case
                       when transacted_at < earliest_event_at
                            or bool_or(is_jump) over (order by transacted_at, ordinal)
                           then 'implausible_time'
                       when btrim(trans_num) = '' or btrim(merchant) = '' or btrim(category) = ''
                           then 'missing_field'
                       when length(trans_num) > 128 or length(merchant) > 256
                            or length(category) > 64
                           then 'field_too_long'
                       -- One search finds the rows either check can refuse: a control
                       -- character, or 13 digits with at most one separator between two
                       -- (how every card number starts: has_card_number's own first test).
                       -- Typical rows stop here; the checks, in order, run on the few left.
                       when fields ~ '[\u0001-\u001f\u007f-\u009f]|[0-9](?:[ .-]?[0-9]){12}'
                           then case
                               when fields ~ '[\u0001-\u001f\u007f-\u009f]'
                                   then 'control_character'
                               when ingest.has_card_number(fields)
                                   then 'card_number_in_text'
                           end
                   end as refusal
            from ordered
        ) as every_row
        where refusal is not null
    )
    update ingest.staged_transactions as s
    set refusal = classified.refusal
    from classified
    where s.batch_id = p_batch_id
      and s.ordinal = classified.ordinal;
    get diagnostics refused_rows = row_count;

    -- Event-time order keeps transaction_id close to event order within a batch. A batch of
    -- new keys, the usual case, goes in as it is: a row costs one lookup of its key (the
    -- unique index's, as it inserts), and no row of the batch can conflict. When the
    -- index refuses a key (stored before, or twice in the batch), that insert is undone
    -- and the batch goes in with ON CONFLICT DO NOTHING, which looks each key up before it
    -- inserts, keeping what each new row was stored as, by trans_num, for the conflict
    -- check.
    begin
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
        where batch_id = p_batch_id and refusal is null
        order by transacted_at, ordinal;
        get diagnostics accepted = row_count;
        conflicts := 0;
        new_rows := 0;
    exception when unique_violation then
        get stacked diagnostics refused_by = constraint_name;
        if refused_by is distinct from 'transactions_trans_num_key' then
            raise;
        end if;
        with inserted as (
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
            where batch_id = p_batch_id and refusal is null
            order by transacted_at, ordinal
            on conflict (trans_num) do nothing
            returning trans_num, payload_sha256
        )
        select count(*), coalesce(jsonb_object_agg(trans_num, payload_sha256), '{}')
        into accepted, stored_now
        from inserted;

        -- A new statement sees what concurrent producers committed meanwhile (ON CONFLICT
        -- waited for them), so every staged row now has a stored row under its trans_num:
        -- itself or an earlier row of the batch (in stored_now), an identical re-send, or a
        -- conflicting payload (read from the table: only these rows cost an index lookup).
        -- Conflicts are counted per staged row, stored once per distinct payload.
        with conflicting as (
            select
                staged_row.trans_num,
                format('trans_num already stored as transaction %s with a different payload; kept the stored row',
                       (select stored.transaction_id from ingest.transactions as stored
                        where stored.trans_num = staged_row.trans_num)) as detail,
                to_jsonb(staged_row) - 'batch_id' - 'ordinal' - 'is_fraud' - 'fraud_scenario'
                    - 'incident_id' - 'refusal' as raw_payload,
                staged_row.source
            from ingest.staged_transactions as staged_row
            where staged_row.batch_id = p_batch_id
              and staged_row.refusal is null
              and staged_row.payload_sha256 <> coalesce(
                  stored_now ->> staged_row.trans_num,
                  (select stored.payload_sha256 from ingest.transactions as stored
                   where stored.trans_num = staged_row.trans_num))
        ),
        stored_conflicts as (
            insert into ingest.quarantine (trans_num, reason, detail, raw_payload, raw_sha256, source)
            select trans_num, 'conflict', detail, raw_payload,
                   encode(sha256(convert_to(source || ':conflict:' || raw_payload::text, 'UTF8')), 'hex'),
                   source
            from conflicting
            on conflict (raw_sha256) do nothing
            returning 1
        )
        select (select count(*) from conflicting), (select count(*) from stored_conflicts)
        into conflicts, new_rows;
    end;

    -- Refused rows: the staged columns (tokens, not card numbers), text fields that hold
    -- a card number removed.
    if refused_rows = 0 then
        refused := '{}';
        refused_total := 0;
    else
        with refusals as (
            select
                case when ingest.has_card_number(s.trans_num) then null else s.trans_num end
                    as trans_num,
                s.refusal as reason,
                case s.refusal
                    when 'implausible_time' then format(
                        'event time %s is outside the plausible range (ingest.event_time_policy)',
                        s.transacted_at)
                    when 'card_number_in_text' then
                        'a text field holds a card number; the field was removed'
                    else 'refused by the database''s own checks of staged rows'
                end as detail,
                to_jsonb(s) - 'batch_id' - 'ordinal' - 'is_fraud' - 'fraud_scenario'
                    - 'incident_id' - 'refusal'
                    || case when s.refusal = 'card_number_in_text' then jsonb_strip_nulls(
                           jsonb_build_object(
                               'trans_num', case when ingest.has_card_number(s.trans_num)
                                                 then '[card number removed]' end,
                               'merchant', case when ingest.has_card_number(s.merchant)
                                                then '[card number removed]' end,
                               'category', case when ingest.has_card_number(s.category)
                                                then '[card number removed]' end))
                       else '{}' end as raw_payload,
                s.source
            from ingest.staged_transactions as s
            where s.batch_id = p_batch_id and s.refusal is not null
        ),
        stored_refusals as (
            insert into ingest.quarantine (trans_num, reason, detail, raw_payload, raw_sha256, source)
            select trans_num, reason, detail, raw_payload,
                   encode(sha256(convert_to(source || ':' || reason || ':' || raw_payload::text,
                                            'UTF8')), 'hex'),
                   source
            from refusals
            on conflict (raw_sha256) do nothing
            returning 1
        )
        select coalesce(jsonb_object_agg(reason, n), '{}'), coalesce(sum(n), 0),
               new_rows + (select count(*) from stored_refusals)
        into refused, refused_total, new_rows
        from (select reason, count(*) as n from refusals group by reason) as counted;
    end if;

    insert into truth.fraud_transactions (trans_num, scenario, incident_id)
    select staged_row.trans_num, staged_row.fraud_scenario, staged_row.incident_id
    from ingest.staged_transactions as staged_row
    join ingest.transactions as stored using (trans_num)
    where staged_row.batch_id = p_batch_id
      and staged_row.refusal is null
      and staged_row.is_fraud
      and staged_row.payload_sha256 = stored.payload_sha256
    on conflict (trans_num) do nothing;

    insert into ingest.quarantine (trans_num, reason, detail, raw_payload, raw_sha256, source)
    select trans_num, reason, detail, raw_payload, raw_sha256, source
    from ingest.staged_quarantine
    where batch_id = p_batch_id
    on conflict (raw_sha256) do nothing;
    get diagnostics quarantined = row_count;
    quarantined := quarantined + new_rows;

    delete from ingest.staged_quarantine where batch_id = p_batch_id;
    delete from ingest.staged_transactions where batch_id = p_batch_id;
    get diagnostics staged = row_count;
    duplicates := staged - accepted - conflicts - refused_total;
end;
$$;
