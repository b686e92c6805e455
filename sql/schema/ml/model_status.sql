-- The only ways a model's status may change: promote, shadow, retire, rollback. Each
-- takes the registry lock, checks the current status, and names its action for
-- ml.model_events (ml/model_events.sql) through the setting pgfraud.model_action.

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

-- Only the owner and the trainer change model status.
revoke all on function ml.lock_registry(), ml.model_status(integer), ml.promote(integer),
    ml.change_status(integer, text, text), ml.shadow(integer), ml.retire(integer),
    ml.champion_stack(), ml.rollback() from public;
grant execute on function ml.promote(integer), ml.shadow(integer), ml.retire(integer),
    ml.rollback() to pgfraud_trainer;
