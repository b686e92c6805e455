-- Guardrails: is a model's live score distribution still the one it was trained for?
-- Applied by migration 0008 (docs/models.md, "Guardrails while serving").
--
-- ml.population_stability(reference, observed) is the PSI of a sample against one
-- reference distribution stored with a model (reference_distributions->'features'->name
-- or ->'score': edges, fractions, null_fraction), with the same bins and the same 1e-4
-- floor as ml.feature_drift (sql/labels/retraining.sql). ml.serving_health(model, shadow,
-- from, to) applies it to the model's own live scores over an event-time window, beside
-- its live alert rate (score >= its threshold) and the alert rate it had on its validation
-- window when it was trained.

create function ml.population_stability(reference jsonb, observed double precision[])
returns double precision
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
    with ref as (
        select array(select jsonb_array_elements_text(reference->'edges')::float8) as edges,
               reference->'fractions' as fractions,
               coalesce((reference->>'null_fraction')::float8, 0) as null_fraction
    ),
    counted as (
        select case when v is null or v = 'NaN'::float8 then -1
                    when cardinality(r.edges) = 0 then 0
                    else width_bucket(v, r.edges) end as bin,
               count(*) as n
        from unnest(observed) as v, ref as r
        group by 1
    ),
    total as (
        select sum(n) as total from counted
    ),
    bins as (
        select b.bin,
               case when b.bin = -1 then r.null_fraction
                    else coalesce((r.fractions->>b.bin)::float8, 0) * (1 - r.null_fraction)
               end as expected
        from ref as r
        cross join lateral generate_series(-1, cardinality(r.edges)) as b (bin)
    )
    select sum((greatest(coalesce(c.n, 0)::float8 / t.total, 1e-4) - greatest(b.expected, 1e-4))
               * ln(greatest(coalesce(c.n, 0)::float8 / t.total, 1e-4)
                    / greatest(b.expected, 1e-4)))
    from bins as b
    cross join total as t
    left join counted as c using (bin)
    where t.total > 0;
$$;

comment on function ml.population_stability(jsonb, double precision[]) is
    'PSI of a sample against one stored reference distribution (edges, fractions, null_fraction).';

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
