-- Model registry: training runs, the status history of every model, and the only ways a
-- status may change (promote, shadow, retire, rollback). Applied by migration 0004.

create table ml.training_runs (
    training_run_id         bigint generated always as identity primary key,
    mode                    text not null,            -- labels | bootstrap
    outcome                 text not null,            -- registered | parity_failed
    model_version           integer,                  -- set when outcome = registered
    label_cutoff_at         timestamptz,
    train_from              timestamptz,
    train_to                timestamptz,
    validation_from         timestamptz,
    validation_to           timestamptz,
    train_rows              integer,
    train_positives         integer,
    validation_rows         integer,
    validation_positives    integer,
    params                  jsonb not null default '{}',
    detail                  jsonb not null default '{}',
    seconds                 double precision,
    created_at              timestamptz not null default now(),
    created_by              text not null default session_user,

    constraint training_runs_mode_check check (mode in ('labels', 'bootstrap')),
    constraint training_runs_outcome_check check (outcome in ('registered', 'parity_failed')),
    constraint training_runs_registered_check
        check ((outcome = 'registered') = (model_version is not null))
);

comment on table ml.training_runs is
    'Every pgfraud train run that got as far as a model: its window, data, parameters and outcome.';

alter table ml.models
    add column training_run_id bigint references ml.training_runs (training_run_id),
    add column feature_importance jsonb not null default '{}',
    -- The same model as LightGBM text: reason codes (per-feature contributions) for alerts.
    add column lightgbm_model text;

alter table ml.training_runs
    add constraint training_runs_model_version_fkey
    foreign key (model_version) references ml.models (model_version);

create table ml.model_events (
    model_event_id  bigint generated always as identity primary key,
    model_version   integer not null references ml.models (model_version),
    action          text not null,
    old_status      text,
    new_status      text not null,
    at              timestamptz not null default now(),
    by              text not null default session_user,

    constraint model_events_action_check
        check (action in ('register', 'promote', 'shadow', 'retire', 'rollback', 'update'))
);

comment on table ml.model_events is
    'Append-only history of model status changes, written by a trigger on ml.models.';

-- Every status change is recorded, whoever makes it; the ml functions name the action
-- through the transaction-local setting pgfraud.model_action. Listeners on channel
-- pgfraud_models (running scorers) reload their models when it fires.
create function ml.record_model_event() returns trigger
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

create trigger models_record_event
    after insert or update of status on ml.models
    for each row
    execute function ml.record_model_event();

-- One status change at a time, cluster-wide for this database.
create function ml.lock_registry() returns void
language sql
as $$ select pg_advisory_xact_lock(hashtext('pgfraud.ml.models')) $$;

create function ml.model_status(version integer) returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    found_status text;
begin
    select status into found_status from ml.models where model_version = version;
    if found_status is null then
        raise exception 'model % does not exist', version using errcode = 'no_data_found';
    end if;
    return found_status;
end;
$$;

-- Make VERSION the champion; the current champion (if any) is retired. Returns the
-- previous champion's version, or NULL.
create function ml.promote(version integer) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    previous integer;
begin
    perform ml.lock_registry();
    if ml.model_status(version) = 'champion' then
        raise exception 'model % is already the champion', version
            using errcode = 'object_not_in_prerequisite_state';
    end if;
    perform set_config('pgfraud.model_action', 'promote', true);
    update ml.models set status = 'retired' where status = 'champion'
        returning model_version into previous;
    update ml.models set status = 'champion', promoted_at = now()
        where model_version = version;
    perform set_config('pgfraud.model_action', '', true);
    return previous;
end;
$$;

-- Move a non-champion model to shadow or retired, recording ACTION.
create function ml.change_status(version integer, target text, action text) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    current_status text;
begin
    perform ml.lock_registry();
    current_status := ml.model_status(version);
    if current_status = 'champion' then
        raise exception 'model % is the champion; promote another model (or roll back) first',
            version using errcode = 'object_not_in_prerequisite_state';
    elsif current_status = target then
        raise exception 'model % is already %', version,
            case target when 'shadow' then 'in shadow' else target end
            using errcode = 'object_not_in_prerequisite_state';
    end if;
    perform set_config('pgfraud.model_action', action, true);
    update ml.models set status = target where model_version = version;
    perform set_config('pgfraud.model_action', '', true);
end;
$$;

-- Score VERSION in shadow: its predictions are written, flagged, and never decide.
create function ml.shadow(version integer) returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$ select ml.change_status(version, 'shadow', 'shadow') $$;

-- Stop scoring VERSION (a candidate or shadow); the champion cannot be retired directly.
create function ml.retire(version integer) returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$ select ml.change_status(version, 'retired', 'retire') $$;

-- The champions in order, as a stack: a promotion pushes, a rollback pops. The top is
-- the current champion; the entry below it is what a rollback returns to.
create function ml.champion_stack() returns integer[]
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    stack integer[] := '{}';
    event record;
begin
    for event in
        select model_version, action from ml.model_events
        where new_status = 'champion' order by model_event_id
    loop
        if event.action = 'rollback' then
            stack := stack[1:cardinality(stack) - 1];
            if stack[cardinality(stack)] is distinct from event.model_version then
                stack := stack || event.model_version;
            end if;
        else
            stack := stack || event.model_version;
        end if;
    end loop;
    return stack;
end;
$$;

-- Return to the champion before the current one; the current one is retired. Rolling
-- back again goes one further back. Returns the new champion's version.
create function ml.rollback() returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    stack integer[];
    current_champion integer;
    previous integer;
begin
    perform ml.lock_registry();
    select model_version into current_champion from ml.models where status = 'champion';
    if current_champion is null then
        raise exception 'there is no champion to roll back'
            using errcode = 'object_not_in_prerequisite_state';
    end if;
    stack := ml.champion_stack();
    -- The entry below the top that is not the current champion.
    for i in reverse cardinality(stack) - 1 .. 1 loop
        if stack[i] <> current_champion then
            previous := stack[i];
            exit;
        end if;
    end loop;
    if previous is null then
        raise exception 'model % has no earlier champion to roll back to', current_champion
            using errcode = 'object_not_in_prerequisite_state';
    end if;
    perform set_config('pgfraud.model_action', 'rollback', true);
    update ml.models set status = 'retired' where model_version = current_champion;
    update ml.models set status = 'champion', promoted_at = now()
        where model_version = previous;
    perform set_config('pgfraud.model_action', '', true);
    return previous;
end;
$$;
