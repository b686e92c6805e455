-- What each authorization was answered (`POST /v1/authorizations`), written in the same
-- transaction as the transaction it decides and the champion's score. A retry with the
-- same trans_num and payload is answered from here. When the configured deadline passed
-- first, or no champion was serving, the configured fallback answered: the row says so
-- (is_fallback, fallback_reason) and still keeps the champion's score when there was one.

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

grant select, insert on api.decisions to pgfraud_api;
