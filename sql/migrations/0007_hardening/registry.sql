-- Model registration only through functions that set status and action themselves.
-- Applied by migration 0007.
--
-- Until 0006 the trainer role could INSERT into ml.models with any status (a model in
-- shadow that nobody deployed) and name the action recorded in ml.model_events through
-- the setting pgfraud.model_action. Now the trainer has no INSERT or UPDATE on
-- ml.models: it registers with ml.register_model (status 'candidate', action
-- 'register', the ONNX hash computed here, not trusted) and links the training run with
-- ml.link_training_run; status changes stay with ml.promote / shadow / retire /
-- rollback. A registration is always recorded as 'register', whatever the setting says.

create function ml.register_model(
    p_onnx_model bytea,
    p_lightgbm_model text,
    p_feature_names text[],
    p_feature_set_version integer,
    p_threshold double precision,
    p_trained_from timestamptz,
    p_trained_to timestamptz,
    p_label_cutoff_at timestamptz,
    p_metrics jsonb,
    p_reference_distributions jsonb,
    p_feature_importance jsonb,
    p_note text
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    version integer;
begin
    perform set_config('pgfraud.model_action', 'register', true);
    insert into ml.models (onnx_model, onnx_sha256, lightgbm_model, feature_names,
                           feature_set_version, threshold, trained_from, trained_to,
                           label_cutoff_at, metrics, reference_distributions,
                           feature_importance, note)
    values (p_onnx_model, encode(sha256(p_onnx_model), 'hex'), p_lightgbm_model,
            p_feature_names, p_feature_set_version, p_threshold, p_trained_from,
            p_trained_to, p_label_cutoff_at, coalesce(p_metrics, '{}'),
            coalesce(p_reference_distributions, '{}'), coalesce(p_feature_importance, '{}'),
            p_note)
    returning model_version into version;
    perform set_config('pgfraud.model_action', '', true);
    return version;
end;
$$;

comment on function ml.register_model(bytea, text, text[], integer, double precision,
    timestamptz, timestamptz, timestamptz, jsonb, jsonb, jsonb, text) is
    'Register a trained model as a candidate; returns its version.';

-- Point a model at the training run that produced it (once; the run must name it).
create function ml.link_training_run(p_training_run_id bigint) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    update ml.models as m
    set training_run_id = r.training_run_id
    from ml.training_runs as r
    where r.training_run_id = p_training_run_id
      and m.model_version = r.model_version
      and m.training_run_id is null;
    if not found then
        raise exception 'training run % names no model without a training run',
            p_training_run_id using errcode = 'no_data_found';
    end if;
end;
$$;

create or replace function ml.record_model_event() returns trigger
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

revoke all on function
    ml.register_model(bytea, text, text[], integer, double precision, timestamptz,
                      timestamptz, timestamptz, jsonb, jsonb, jsonb, text),
    ml.link_training_run(bigint) from public;
