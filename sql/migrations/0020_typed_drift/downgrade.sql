-- Back to revision 0019's ml.feature_drift: the row unpivoted through to_jsonb.

create or replace function ml.feature_drift(p_model integer, p_from timestamptz, p_to timestamptz)
returns table (feature text, psi double precision, observations bigint)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    with reference as (
        select r.key as feature,
               array(select jsonb_array_elements_text(r.value->'edges')::float8) as edges,
               r.value->'fractions' as fractions,
               coalesce((r.value->>'null_fraction')::float8, 0) as null_fraction
        from ml.models as m,
             jsonb_each(m.reference_distributions->'features'
                        || jsonb_build_object('score', m.reference_distributions->'score')) as r
        where m.model_version = p_model and r.value is not null and r.value <> 'null'
    ),
    observed as (
        select kv.key as feature,
               case when jsonb_typeof(kv.value) = 'number' then (kv.value #>> '{}')::float8
               end as value
        from features.model_input_v1 as x
        cross join lateral jsonb_each(to_jsonb(x) - 'transaction_id' - 'trans_num'
                                      - 'transacted_at' - 'card_token'
                                      - 'feature_set_version') as kv
        where x.transacted_at >= p_from and x.transacted_at < p_to
        union all
        select 'score', p.score
        from scoring.predictions as p
        join ingest.transactions as t using (transaction_id)
        where p.model_version = p_model
          and t.transacted_at >= p_from and t.transacted_at < p_to
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
        select feature, sum(n) as total from counted group by 1
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
    order by psi desc;
$$;
