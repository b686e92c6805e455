-- Revision 0015 undone: the API's schema, grants and source go; its rows must go first.

delete from scoring.pending where champion_scored;  -- decided inline; shadows only
alter table scoring.pending drop column champion_scored;
comment on table scoring.pending is
    'Transactions committed but not yet scored by the champion; scorers claim and delete rows.';

drop schema api cascade;

alter table ingest.transactions drop constraint transactions_source_check;
alter table ingest.transactions add constraint transactions_source_check
    check (source in ('stream', 'csv', 'replay'));
alter table ingest.quarantine drop constraint quarantine_source_check;
alter table ingest.quarantine add constraint quarantine_source_check
    check (source in ('stream', 'csv', 'replay'));

revoke all on ingest.staged_transactions, ingest.staged_quarantine, ingest.transactions,
    ingest.quarantine, features.model_input_v1, ml.models, scoring.pending, scoring.scores,
    scoring.alerts from pgfraud_api;
revoke all on function ingest.accept_batch(uuid), scoring.alert_json(scoring.alerts)
    from pgfraud_api;
revoke usage on schema ingest, features, scoring, ml from pgfraud_api;
-- A role still holding privileges in another database of the cluster stays (as 0001's).
do $$
begin
    drop role if exists pgfraud_api;
exception when dependent_objects_still_exist then
    raise notice 'role pgfraud_api is still used in another database; kept';
end
$$;
