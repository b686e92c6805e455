-- Queries of labelling, review, simulated analysts and replay (pgfraud/labels/analysts.py).

-- name: resolve
-- Requested keys (a trans_num, else a transaction id) to transaction ids, with whether
-- the transaction has been scored (labels are set through scoring.predictions) and its
-- current label.
select r.ordinal, t.transaction_id,
       exists (select from scoring.predictions p where p.transaction_id = t.transaction_id),
       (select l.true_value from scoring.labels l where l.transaction_id = t.transaction_id)
from unnest(%(keys)s::text[]) with ordinality as r (key, ordinal)
left join lateral (
    select x.transaction_id from ingest.transactions as x where x.trans_num = r.key
    union all
    select x.transaction_id from ingest.transactions as x
    where x.transaction_id = case when r.key ~ '^[0-9]{1,18}$' then r.key::bigint end
    limit 1
) as t on true
order by r.ordinal;

-- name: apply
-- One label per transaction: scoring.write_label applies the first row of each
-- transaction (stamped, audited) and finds the others already so.
update scoring.predictions as p
set true_value = r.value,
    label_note = coalesce(r.note, p.label_note)
from unnest(%(ids)s::bigint[], %(values)s::boolean[], %(notes)s::text[])
     as r (transaction_id, value, note)
where p.transaction_id = r.transaction_id
  and (p.true_value is distinct from r.value
       or (r.note is not null and r.note is distinct from p.label_note));

-- name: review
-- The analysts' queue of alerts awaiting a label, with what a reviewer needs.
select alert_id, transaction_id, transacted_at, card_last4, amount, merchant, category,
       score, threshold, model_version, reasons, card_tx_count_24h, km_from_home,
       speed_kmh_from_previous, card_recent_transactions
from scoring.review_queue
limit %(limit)s;

-- name: simulated_labels_due
-- What simulated analysts label now: champion alerts and a --coverage sample of other
-- scored transactions once --delay of event time has passed, and missed frauds as
-- chargebacks after --chargeback-delay. Labels come from the truth schema (this runs as
-- the owner, never as a scoring-path role) and arrive at event time + delay.
-- The unlabelled champion scores come first, materialized: otherwise the planner derives
-- a filter on every score row from the final condition and hashes each transaction id
-- (labelled or not) before the anti-join, a cost that grows with the table.
with clock as (select max_transacted_at as now from ingest.event_clock),
unlabelled as materialized (
    select p.transaction_id, p.is_alert
    from scoring.scores as p
    where not p.is_shadow
      and not exists (select from scoring.labels l
                      where l.transaction_id = p.transaction_id and l.true_value is not null)
),
candidates as (
    select u.transaction_id, t.transacted_at, u.is_alert,
           f.trans_num is not null as is_fraud,
           (hashtextextended(u.transaction_id::text, %(seed)s) & 1048575) / 1048576.0
               < %(coverage)s as sampled
    from unlabelled as u
    join ingest.transactions as t using (transaction_id)
    left join truth.fraud_transactions as f using (trans_num)
)
select c.transaction_id, c.is_fraud,
       case when c.is_alert or c.sampled then c.transacted_at + %(delay)s
            else c.transacted_at + %(chargeback_delay)s end as labeled_at,
       case when c.is_alert then 'alert review'
            when c.sampled then 'sampled review'
            else 'chargeback' end as note
from candidates as c, clock
where ((c.is_alert or c.sampled) and c.transacted_at + %(delay)s <= clock.now)
   or (c.is_fraud and not c.is_alert and not c.sampled
       and c.transacted_at + %(chargeback_delay)s <= clock.now)
order by c.transaction_id;

-- name: apply_simulated
-- Simulated analysts' labels, each stamped with when it arrived in event time, in one call
-- of scoring.write_labels (owner only): the same labels and audit rows as an update of
-- scoring.predictions through scoring.write_label, set-based instead of row by row.
-- Returns the number of labels changed. The arrays are binary parameters (see
-- insert_predictions in scoring.sql).
select scoring.write_labels(%(ids)b::bigint[], %(values)b::boolean[],
                            %(labeled_at)b::timestamptz[], %(notes)b::text[],
                            %(labeled_by)s::text);
