-- The HTTP API's clients: one bearer token each, stored only as its SHA-256 (a token is
-- 256 random bits, so a fast hash is as strong as a slow one; GitHub stores its tokens the
-- same way). `pgfraud tokens create NAME` prints the token once; the server keeps the
-- hashes in memory and reloads them on NOTIFY pgfraud_api_clients, so a revocation takes
-- effect within a moment, without a restart.

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

-- api: reads the hashes; only the owner (`pgfraud tokens`) writes.
grant select on api.clients to pgfraud_api;
