-- Privileges for migration 0004's objects, and the trainer role.
do $$
begin
    if not exists (select from pg_roles where rolname = 'pgfraud_trainer') then
        create role pgfraud_trainer nologin;
    end if;
end
$$;

comment on role pgfraud_trainer is
    'pgfraud: reads features and label history; registers models and changes their status.';

-- trainer: features and labels in, models out. Status changes only through the ml
-- functions (audited by trigger), never by UPDATE.
grant usage on schema ingest, features, scoring, ml to pgfraud_trainer;
grant select on ingest.event_clock to pgfraud_trainer;
grant select on features.model_input_v1, features.feature_sets to pgfraud_trainer;
grant select on scoring.label_events to pgfraud_trainer;
grant select, insert on ml.models, ml.training_runs to pgfraud_trainer;
grant update (training_run_id) on ml.models to pgfraud_trainer;
grant select on ml.model_events to pgfraud_trainer;
grant execute on function ml.promote(integer), ml.shadow(integer), ml.retire(integer),
    ml.rollback() to pgfraud_trainer;

-- scorer: reads the same model input and the registry history.
grant select on features.model_input_v1 to pgfraud_scorer;
grant select on ml.model_events to pgfraud_scorer;

-- Only the owner and the trainer change model status.
revoke all on function ml.promote(integer), ml.shadow(integer), ml.retire(integer),
    ml.rollback(), ml.change_status(integer, text, text), ml.record_model_event(),
    ml.lock_registry() from public;
grant execute on function ml.promote(integer), ml.shadow(integer), ml.retire(integer),
    ml.rollback() to pgfraud_trainer;
