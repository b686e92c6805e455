-- Append-only history of model status changes, written by a trigger on ml.models.
--
-- Every status change is recorded, whoever makes it; the ml functions name the action
-- through the transaction-local setting pgfraud.model_action. A registration is always
-- recorded as 'register', whatever the setting says. Listeners on channel pgfraud_models
-- (running scorers) reload their models when it fires.

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

create function ml.record_model_event() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into ml.model_events (model_version, action, old_status, new_status)
    values (new.model_version,
            case tg_op
                when 'INSERT' then 'register'
                else coalesce(nullif(current_setting('pgfraud.model_action', true), ''),
                              'update')
            end,
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

revoke all on function ml.record_model_event() from public;

-- The trainer and the scorer read the history.
grant select on ml.model_events to pgfraud_trainer, pgfraud_scorer;
