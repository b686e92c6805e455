-- (Re)build features.card_windows from the stored rows with ids <= p_through_id: for the
-- cards given, or for every card when p_cards is NULL. features.compute_batch calls it
-- when the state does not cover exactly the rows before a batch, and for the cards of a
-- batch that had rows out of event-time order. After a bulk load with the trigger
-- disabled, `select features.rebuild_card_windows(max(transaction_id), null)` does it
-- ahead of the next batch.

create function features.rebuild_card_windows(p_through_id bigint, p_cards text[]) returns void
language sql
as $$
    delete from features.card_windows where p_cards is null or card_token = any(p_cards);
    insert into features.card_windows
    select card_token, max(transacted_at),
        -- Amounts are never negative, so the running sums grow: min and max are the ends.
        min(cum_amount - amount), min(cum_square - amount * amount), max(cum_amount), max(cum_square),
        array_agg(transacted_at order by transacted_at, transaction_id),
        array_agg(cum_amount order by transacted_at, transaction_id),
        array_agg(cum_square order by transacted_at, transaction_id),
        array_agg(category order by transacted_at, transaction_id),
        coalesce(array_agg(merchant order by transacted_at, transaction_id)
                     filter (where transacted_at > last_at - interval '25 hours'), '{}'),
        (array_agg(merchant_lat order by transacted_at desc, transaction_id desc))[1],
        (array_agg(merchant_long order by transacted_at desc, transaction_id desc))[1]
    from (
        select h.card_token, h.transacted_at, h.transaction_id, h.amount, h.category, h.merchant,
               h.merchant_lat, h.merchant_long, c.last_at,
               sum(h.amount) over running as cum_amount,
               sum(h.amount * h.amount) over running as cum_square
        from (select t.card_token, max(t.transacted_at) as last_at
              from ingest.transactions as t
              where t.transaction_id <= p_through_id
                and (p_cards is null or t.card_token = any(p_cards))
              group by t.card_token) as c
        join ingest.transactions as h using (card_token)
        where h.transacted_at > c.last_at - interval '31 days'
          and h.transaction_id <= p_through_id
        window running as (partition by h.card_token order by h.transacted_at, h.transaction_id)
    ) as r
    group by card_token;
    -- A rebuild of every card covers exactly the rows through p_through_id.
    update features.card_windows_through set through_id = p_through_id where p_cards is null;
$$;

comment on function features.rebuild_card_windows(bigint, text[]) is
    'Rebuild the card windows of the given cards (all when NULL) from stored rows with ids <= p_through_id.';

revoke all on function features.rebuild_card_windows(bigint, text[]) from public;
