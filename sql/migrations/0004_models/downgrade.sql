-- Undo migration 0004.
drop trigger models_record_event on ml.models;
drop function ml.rollback(), ml.champion_stack(), ml.retire(integer), ml.shadow(integer),
    ml.change_status(integer, text, text),
    ml.promote(integer), ml.model_status(integer), ml.lock_registry(),
    ml.record_model_event();
drop table ml.model_events;
alter table ml.training_runs drop constraint training_runs_model_version_fkey;
alter table ml.models drop column training_run_id, drop column feature_importance,
    drop column lightgbm_model;
drop table ml.training_runs;
drop view features.model_input_v1;
drop table features.categories;

-- As in 0001's downgrade: a role still holding privileges in another database stays.
revoke all on all tables in schema ingest, features, scoring, ml from pgfraud_trainer;
revoke usage on schema ingest, features, scoring, ml from pgfraud_trainer;
do $$
begin
    drop role if exists pgfraud_trainer;
exception when dependent_objects_still_exist then
    raise notice 'role pgfraud_trainer is still used in another database; kept';
end
$$;
