-- ml.feature_drift reads the model input through a typed VALUES unpivot built from the
-- view's columns instead of to_jsonb(row) and jsonb_each (issue 19); same bins, same
-- PSI. Grants and comment are kept by CREATE OR REPLACE.

-- Drift of a model's inputs and scores over an event-time window: the population
-- stability index (PSI) of every feature in the model's reference distributions, and
-- of its scores, against the bins stored at registration (docs/models.md).
--
-- Bins: value bins 0..k (width_bucket over the stored edges) plus one bin for NULL.
-- Expected share of value bin i = fraction_i * (1 - null_fraction); of the NULL bin =
-- null_fraction. Actual shares are over every transaction (prediction, for the score)
-- in [from, to). PSI = sum over bins of (actual - expected) * ln(actual / expected),
-- both floored at 1e-4 so an empty bin counts as rare, not impossible. Rule of thumb:
-- < 0.1 stable, 0.1-0.2 moderate, > 0.2 drifted (the retraining trigger's default).
--
-- The values: every column of features.model_input_v1 but its key columns, unpivoted by
-- a VALUES list built from the view's columns in the catalog (so a feature added to the
-- view is measured, as the dbt histograms measure it). NaN and infinite values count as
-- NULL (bin -1), as the histograms count them. Typed, not through to_jsonb(row) and
-- jsonb_each: 700 -> 310 ms for a week of 15,263 transactions (issue 19).

create or replace function ml.feature_drift(p_model integer, p_from timestamptz, p_to timestamptz)
returns table (feature text, psi double precision, observations bigint)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $fn$
declare
    v_values text;
begin
    select string_agg(format('(%L, x.%I)', a.attname, a.attname), ', ' order by a.attnum)
    into v_values
    from pg_attribute as a
    where a.attrelid = 'features.model_input_v1'::regclass
      and a.attnum > 0 and not a.attisdropped
      and a.attname not in ('transaction_id', 'trans_num', 'transacted_at', 'card_token',
                            'feature_set_version');
    return query execute format($q$
    with reference as (
        select r.key as feature,
               array(select jsonb_array_elements_text(r.value->'edges')::float8) as edges,
               r.value->'fractions' as fractions,
               coalesce((r.value->>'null_fraction')::float8, 0) as null_fraction
        from ml.models as m,
             jsonb_each(m.reference_distributions->'features'
                        || jsonb_build_object('score', m.reference_distributions->'score')) as r
        where m.model_version = $1 and r.value is not null and r.value <> 'null'
    ),
    observed as (
        select kv.feature,
               nullif(nullif(nullif(kv.value::float8, 'NaN'), 'Infinity'), '-Infinity')
                   as value
        from features.model_input_v1 as x
        cross join lateral (values %s) as kv (feature, value)
        where x.transacted_at >= $2 and x.transacted_at < $3
        union all
        select 'score', p.score
        from scoring.predictions as p
        join ingest.transactions as t using (transaction_id)
        where p.model_version = $1
          and t.transacted_at >= $2 and t.transacted_at < $3
    ),
    counted as (
        select r.feature,
               case when o.value is null then -1 else width_bucket(o.value, r.edges) end as bin,
               count(*) as n
        from observed as o
        join reference as r using (feature)
        group by 1, 2
    ),
    totals as (
        select t.feature, sum(t.n) as total from counted as t group by 1
    ),
    bins as (
        select r.feature, b.bin,
               case when b.bin = -1 then r.null_fraction
                    else coalesce((r.fractions->>b.bin)::float8, 0) * (1 - r.null_fraction)
               end as expected
        from reference as r
        cross join lateral generate_series(-1, cardinality(r.edges)) as b (bin)
    )
    select b.feature,
           sum((greatest(coalesce(c.n, 0)::float8 / t.total, 1e-4) - greatest(b.expected, 1e-4))
               * ln(greatest(coalesce(c.n, 0)::float8 / t.total, 1e-4)
                    / greatest(b.expected, 1e-4))) as psi,
           max(t.total)::bigint as observations
    from bins as b
    join totals as t using (feature)
    left join counted as c using (feature, bin)
    group by b.feature
    order by psi desc
    $q$, v_values) using p_model, p_from, p_to;
end;
$fn$;
