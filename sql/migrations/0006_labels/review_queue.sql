-- The investigators' review queue: unlabelled alerts, highest score first, with reason
-- codes and the card's recent history. Applied by migration 0006.
--
-- A view owned by the owner: analysts read it without any privilege on ingest.

create view scoring.review_queue as
select
    a.alert_id,
    a.transaction_id,
    a.transacted_at,
    a.card_last4,
    a.amount,
    a.merchant,
    a.category,
    round(a.score::numeric, 4)      as score,
    round(a.threshold::numeric, 4)  as threshold,
    a.model_version,
    a.reasons,
    f.card_tx_count_24h,
    f.card_amount_sum_24h,
    round(f.km_from_home::numeric, 1)            as km_from_home,
    round(f.speed_kmh_from_previous::numeric, 0) as speed_kmh_from_previous,
    history.recent                                as card_recent_transactions,
    a.created_at                                  as alerted_at
from scoring.alerts as a
join ingest.transactions as t using (transaction_id)
left join features.transaction_features as f using (transaction_id)
left join lateral (
    select jsonb_agg(jsonb_build_object(
               'transacted_at', r.transacted_at, 'amount', r.amount,
               'merchant', r.merchant, 'category', r.category)
           order by r.transacted_at desc) as recent
    from (
        select r.transacted_at, r.amount, r.merchant, r.category
        from ingest.transactions as r
        where r.card_token = t.card_token
          and (r.transacted_at, r.transaction_id) < (t.transacted_at, t.transaction_id)
        order by r.transacted_at desc, r.transaction_id desc
        limit 5
    ) as r
) as history on true
where not exists (
    select from scoring.predictions as p
    where p.transaction_id = a.transaction_id and p.true_value is not null
)
order by a.score desc, a.alert_id;

comment on view scoring.review_queue is
    'Unlabelled alerts, highest score first, with reason codes and the card''s last 5 '
    'transactions before it.';

-- Unlabelled champion predictions: what simulated analysts and replays look through
-- each round. Without it every round scans every prediction ever made.
create index predictions_unlabelled_idx on scoring.predictions (transaction_id)
    where true_value is null and not is_shadow;
