-- The population stability index (PSI) of a sample against one reference distribution
-- stored with a model (reference_distributions->'features'->name or ->'score': edges,
-- fractions, null_fraction), with the same bins and the same 1e-4 floor as
-- ml.feature_drift (ml/feature_drift.sql). The guardrails apply it to a model's live
-- scores (ml/serving_health.sql).

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

revoke all on function ml.population_stability(jsonb, double precision[]) from public;
grant execute on function ml.population_stability(jsonb, double precision[])
    to pgfraud_trainer;
