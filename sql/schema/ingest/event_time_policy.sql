-- Bounded event time: what ingest accepts as a transaction's time, and an audited way to
-- change the bounds or repair the event clock.
--
-- ingest.event_clock (the latest event time ingested) stamps every label's arrival, so a
-- single row dated 9999-12-31 would move it there for good: every later label would
-- arrive "in 9999" and never mature. ingest.accept_batch quarantines such rows
-- ('implausible_time') before they are stored, by this policy:
--   * earlier than earliest_event_at (default 2000-01-01): implausible;
--   * later than max_ahead (default 1 day) past the reach, where the reach starts at the
--     later of the event clock and the wall clock (now()), and grows with each plausible
--     row of the batch in event-time order. A batch is a contiguous run of time: a
--     simulated stream that runs ahead of the wall clock (hours of event time a second)
--     stays plausible batch after batch, historical files are always behind the wall
--     clock, and a row that jumps more than max_ahead past everything before it (and
--     every later row of the batch, which can only be later still) is refused.
-- Rows are refused, never clipped: the clock moves only with stored rows.
--
-- Changes to the policy and to the clock outside ingest are appended to
-- ingest.event_clock_changes (who, when, old, new, why); owners use
-- ingest.set_event_time_policy and ingest.repair_event_clock (pgfraud clock).

create table ingest.event_time_policy (
    is_singleton        boolean primary key default true check (is_singleton),
    earliest_event_at   timestamptz not null default '2000-01-01 00:00:00+00',
    max_ahead           interval not null default '1 day',

    constraint event_time_policy_max_ahead_check check (max_ahead >= interval '0')
);
insert into ingest.event_time_policy default values;

comment on table ingest.event_time_policy is
    'Bounds on a transaction''s event time; rows outside are quarantined as implausible_time.';

create table ingest.event_clock_changes (
    event_clock_change_id   bigint generated always as identity primary key,
    changed_at              timestamptz not null default now(),
    changed_by              text not null default session_user,
    setting                 text not null,      -- clock | earliest_event_at | max_ahead
    old_value               text,
    new_value               text,
    reason                  text not null,

    constraint event_clock_changes_setting_check
        check (setting in ('clock', 'earliest_event_at', 'max_ahead'))
);

comment on table ingest.event_clock_changes is
    'Append-only audit of event-time policy changes and event clock repairs.';

-- Why the current change is made: set (transaction-local) by the two functions below;
-- a direct UPDATE by an owner is recorded as such.
create function ingest.change_reason() returns text
language sql
stable
as $$ select coalesce(nullif(current_setting('pgfraud.change_reason', true), ''),
                      'direct update (not through pgfraud clock)') $$;

create function ingest.record_clock_change() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    -- Ingest advances the clock from its own trigger (depth 2 here): that is the clock
    -- working, not a change to audit.
    if pg_trigger_depth() > 1 then
        return null;
    end if;
    if tg_table_name = 'event_clock' then
        insert into ingest.event_clock_changes (setting, old_value, new_value, reason)
        values ('clock', old.max_transacted_at::text, new.max_transacted_at::text,
                ingest.change_reason());
    else
        insert into ingest.event_clock_changes (setting, old_value, new_value, reason)
        select setting, old_value, new_value, ingest.change_reason()
        from (values
            ('earliest_event_at', old.earliest_event_at::text, new.earliest_event_at::text),
            ('max_ahead', old.max_ahead::text, new.max_ahead::text)
        ) as changed (setting, old_value, new_value)
        where old_value is distinct from new_value;
    end if;
    return null;
end;
$$;

create trigger event_clock_record_change
    after update on ingest.event_clock
    for each row
    when (old.max_transacted_at is distinct from new.max_transacted_at)
    execute function ingest.record_clock_change();

create trigger event_time_policy_record_change
    after update on ingest.event_time_policy
    for each row
    execute function ingest.record_clock_change();

-- Change the policy (NULL keeps a bound as it is). Returns the policy now in force.
create function ingest.set_event_time_policy(p_earliest_event_at timestamptz,
                                             p_max_ahead interval, p_reason text)
returns ingest.event_time_policy
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    result ingest.event_time_policy;
begin
    if coalesce(btrim(p_reason), '') = '' then
        raise exception 'say why the event-time policy changes (a reason is required)'
            using errcode = 'invalid_parameter_value';
    end if;
    perform features.lock_ingest();
    perform set_config('pgfraud.change_reason', p_reason, true);
    update ingest.event_time_policy
    set earliest_event_at = coalesce(p_earliest_event_at, earliest_event_at),
        max_ahead = coalesce(p_max_ahead, max_ahead)
    returning * into result;
    perform set_config('pgfraud.change_reason', '', true);
    return result;
end;
$$;

-- Set the event clock to P_TO, or (NULL) to the latest stored event time the policy
-- allows now: what an operator runs when a bad row moved the clock before the policy
-- caught it. Labels already stamped keep their stamp (they are audited history).
-- Returns the clock's new value.
create function ingest.repair_event_clock(p_to timestamptz, p_reason text)
returns timestamptz
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    target timestamptz := p_to;
begin
    if coalesce(btrim(p_reason), '') = '' then
        raise exception 'say why the event clock is repaired (a reason is required)'
            using errcode = 'invalid_parameter_value';
    end if;
    perform features.lock_ingest();
    if target is null then
        select coalesce(max(t.transacted_at), '-infinity') into target
        from ingest.transactions as t, ingest.event_time_policy as p
        where t.transacted_at <= now() + p.max_ahead;
    end if;
    perform set_config('pgfraud.change_reason', p_reason, true);
    update ingest.event_clock set max_transacted_at = target;
    perform set_config('pgfraud.change_reason', '', true);
    return target;
end;
$$;

-- Owner only: no role may change the policy or the clock.
revoke all on function ingest.change_reason(), ingest.record_clock_change(),
    ingest.set_event_time_policy(timestamptz, interval, text),
    ingest.repair_event_clock(timestamptz, text) from public;
