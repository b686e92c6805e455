-- Revision 0015: authorization-time decisions over HTTP (`pgfraud serve`, issue 20).
--
-- * pgfraud_api: the role the HTTP service acts as. It stores a transaction the way a
--   producer does (staging + ingest.accept_batch), reads its features and the champion,
--   and writes the champion's score, alert and decision in the same transaction.
-- * api.clients: one bearer token per client, stored as its SHA-256 only.
-- * api.decisions: what each authorization was answered, fallbacks included.
-- * 'api' becomes a transaction and quarantine source.
-- * scoring.pending.champion_scored: a transaction the API already decided stays queued
--   for the shadow models only; scorers do not score it with the champion again.

do $$
begin
    if not exists (select from pg_roles where rolname = 'pgfraud_api') then
        create role pgfraud_api nologin;
    end if;
end
$$;
comment on role pgfraud_api is
    'pgfraud: the HTTP API; stores, scores and decides one authorization in one transaction.';

create schema api;
comment on schema api is
    'The HTTP API''s clients (hashed bearer tokens) and its decisions.';
grant usage on schema api to pgfraud_api;
grant usage on schema ingest, features, scoring, ml to pgfraud_api;

alter table ingest.transactions drop constraint transactions_source_check;
alter table ingest.transactions add constraint transactions_source_check
    check (source in ('stream', 'csv', 'replay', 'api'));
alter table ingest.quarantine drop constraint quarantine_source_check;
alter table ingest.quarantine add constraint quarantine_source_check
    check (source in ('stream', 'csv', 'replay', 'api'));

alter table scoring.pending
    add column champion_scored boolean not null default false;
comment on table scoring.pending is
    'Transactions committed but not yet scored by the deployed models; scorers claim and '
    'delete rows (champion_scored: the API decided it, only the shadows score it).';
comment on column scoring.pending.champion_scored is
    'The champion already decided it (the HTTP API, inline): only shadow models score it.';

create table api.clients (
    client_id       integer generated always as identity primary key,
    name            text not null,
    token_sha256    text not null,
    created_at      timestamptz not null default now(),
    revoked_at      timestamptz,

    constraint clients_token_sha256_key unique (token_sha256),
    constraint clients_name_check check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    constraint clients_token_sha256_check check (token_sha256 ~ '^[0-9a-f]{64}$')
);

comment on table api.clients is
    'API clients: the SHA-256 of each bearer token, never the token. `pgfraud tokens` writes it.';

-- One live token per name; a revoked name can be given a new token.
create unique index clients_name_live_key on api.clients (name) where revoked_at is null;

create function api.notify_clients_changed() returns trigger
language plpgsql
as $$
begin
    perform pg_notify('pgfraud_api_clients', '');
    return null;
end;
$$;

revoke all on function api.notify_clients_changed() from public;

create trigger clients_changed
    after insert or update or delete on api.clients
    for each statement
    execute function api.notify_clients_changed();

create table api.decisions (
    transaction_id  bigint primary key references ingest.transactions (transaction_id),
    client_id       integer not null references api.clients (client_id),
    decision        text not null,
    model_version   integer references ml.models (model_version),
    score           double precision,
    reasons         jsonb not null default '[]',
    is_fallback     boolean not null,
    fallback_reason text,
    latency_ms      double precision not null,
    decided_at      timestamptz not null default now(),

    constraint decisions_decision_check check (decision in ('approve', 'review', 'decline')),
    constraint decisions_score_check check (score between 0 and 1),
    constraint decisions_fallback_check check (
        is_fallback = (fallback_reason is not null)
        and (fallback_reason is null or fallback_reason in ('deadline', 'no_champion', 'error'))),
    constraint decisions_model_check check ((model_version is null) = (score is null)),
    constraint decisions_latency_ms_check check (latency_ms >= 0)
);

comment on table api.decisions is
    'What each authorization was answered: the decision, the champion''s score and reasons, '
    'and whether the configured fallback answered instead (deadline, no champion, error).';

create index decisions_decided_at_idx on api.decisions (decided_at);

grant select on api.clients to pgfraud_api;
grant select, insert on api.decisions to pgfraud_api;

-- Storing: as a producer does.
grant insert (batch_id, ordinal, trans_num, transacted_at, card_token, card_last4, amount,
              merchant, category, merchant_lat, merchant_long, home_lat, home_long,
              city_pop, cardholder_birth_date, payload_sha256, source, is_fraud,
              fraud_scenario, incident_id)
    on ingest.staged_transactions to pgfraud_api;
grant insert on ingest.staged_quarantine to pgfraud_api;
grant execute on function ingest.accept_batch(uuid) to pgfraud_api;
-- Finding what was stored, and why a row the database refused was quarantined.
grant select on ingest.transactions to pgfraud_api;
grant select (trans_num, reason, detail, source, quarantined_at) on ingest.quarantine
    to pgfraud_api;
-- Scoring: as the scorer does, for the champion only.
grant select on features.model_input_v1 to pgfraud_api;
grant select on ml.models to pgfraud_api;
grant select, update, delete on scoring.pending to pgfraud_api;
grant select on scoring.scores to pgfraud_api;
grant insert (transaction_id, model_version, feature_set_version, is_shadow, score,
              threshold, is_alert, latency_ms)
    on scoring.scores to pgfraud_api;
grant select on scoring.alerts to pgfraud_api;
grant insert (transaction_id, model_version, score, threshold, card_last4, amount, merchant,
              category, transacted_at, reasons)
    on scoring.alerts to pgfraud_api;
grant execute on function scoring.alert_json(scoring.alerts) to pgfraud_api;
