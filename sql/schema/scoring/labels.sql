-- What analysts say: the one current label per transaction, written only through the
-- view scoring.predictions (scoring.write_label, scoring/write_label.sql) or, by the
-- owner, in batches (scoring.write_labels, scoring/write_labels.sql), every change
-- appended to scoring.label_events.

create table scoring.labels (
    transaction_id  bigint primary key references ingest.transactions (transaction_id),
    true_value      boolean,                  -- NULL: no label (never set, or cleared)
    labeled_at      timestamptz,              -- arrival of the current value
    labeled_by      text,                     -- author of the current value
    label_note      text,
    updated_at      timestamptz not null,     -- the latest change of value or note

    constraint labels_stamped_check
        check (true_value is null or (labeled_at is not null and labeled_by is not null))
);

comment on table scoring.labels is
    'The one current label per transaction; written only through scoring.predictions '
    '(scoring.write_label) or, by the owner, scoring.write_labels; history in '
    'scoring.label_events.';

create index labels_labeled_at_idx on scoring.labels (labeled_at) where true_value is not null;

grant select on scoring.labels to pgfraud_analyst;
