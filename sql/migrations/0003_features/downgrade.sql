-- Undo migration 0003, restoring 0001's label stamping.
alter table ingest.transactions reset (autovacuum_vacuum_insert_threshold,
    autovacuum_vacuum_insert_scale_factor);
drop trigger transactions_compute_features on ingest.transactions;
drop trigger transactions_lock_ingest on ingest.transactions;
drop trigger predictions_record_label_event on scoring.predictions;
drop function features.after_transactions_insert();
drop function features.before_transactions_insert();
drop function scoring.record_label_event();
drop function features.compute_range(bigint, bigint);
drop table features.transaction_features, features.feature_sets, scoring.label_events,
    ingest.event_clock;
drop function features.distance_km(double precision, double precision, double precision,
                                   double precision);

create or replace function scoring.stamp_label() returns trigger
language plpgsql as $$
begin
    if new.labeled_at is not distinct from old.labeled_at then
        new.labeled_at := now();
    end if;
    if new.labeled_by is not distinct from old.labeled_by then
        new.labeled_by := session_user;
    end if;
    return new;
end;
$$;
alter function scoring.stamp_label() security invoker;
alter function scoring.stamp_label() reset all;

drop function features.lock_ingest();
