-- Where a stored row's features are computed (docs/features.md, "The feature follower"):
--   * 'ingest' (the default): by the insert's statement trigger, in the transaction that
--     stores the rows (features/ingest_triggers.sql). A row is queued for scoring with
--     its features, when it commits.
--   * 'follower': by features.compute_pending (features/follower.sql), called in a loop
--     by `pgfraud features follow`: storing batch n + 1 and computing batch n's features
--     run at once, in two backends. A row is queued for scoring when its features commit.
-- Either way every row gets the same values (features.compute_batch over the rows after
-- the card windows' through_id, in id order), and is queued for scoring exactly once.
-- Switched by features.set_computed_by, never by a plain update (the switch to 'ingest'
-- first computes every row still waiting).

create table features.compute_mode (
    only_row    boolean primary key default true check (only_row),
    computed_by text not null default 'ingest'
        constraint compute_mode_computed_by_check check (computed_by in ('ingest', 'follower')),
    changed_at  timestamptz not null default now()
);

comment on table features.compute_mode is
    'Where features are computed: ''ingest'' (in the storing transaction) or ''follower'' '
    '(features.compute_pending, `pgfraud features follow`). Change with features.set_computed_by.';

insert into features.compute_mode (only_row, computed_by) values (true, 'ingest');
