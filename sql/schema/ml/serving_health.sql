-- Guardrails: is a model's live score distribution still the one it was trained for?
-- (docs/models.md, "Guardrails while serving").
--
-- ml.serving_health(model, shadow, from, to) applies ml.population_stability
-- (ml/population_stability.sql) to the model's own live scores over an event-time
-- window, beside its live alert rate (score >= its threshold) and the alert rate it had
-- on its validation window when it was trained.

create function ml.serving_health(p_model integer, p_shadow boolean,
                                  p_from timestamptz, p_to timestamptz)
returns table (predictions bigint, score_psi double precision,
               alert_rate double precision, reference_alert_rate double precision)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select count(s.score),
           ml.population_stability(m.reference_distributions->'score',
                                   array_agg(s.score) filter (where s.score is not null)),
           avg((s.score >= m.threshold)::int::float8),
           (m.metrics->'validation'->>'alert_rate')::float8
    from ml.models as m
    left join (
        select p.score
        from scoring.scores as p
        join ingest.transactions as t using (transaction_id)
        where p.model_version = p_model and p.is_shadow = p_shadow
          and t.transacted_at >= p_from and t.transacted_at < p_to
    ) as s on true
    where m.model_version = p_model
    group by m.model_version;
$$;

comment on function ml.serving_health(integer, boolean, timestamptz, timestamptz) is
    'A model''s live scores over an event-time window: count, score PSI against its '
    'reference, alert rate, and its validation alert rate.';

revoke all on function ml.serving_health(integer, boolean, timestamptz, timestamptz) from public;
grant execute on function ml.serving_health(integer, boolean, timestamptz, timestamptz)
    to pgfraud_trainer;
