-- Feature sets: one row per version of the feature definitions. Version 1 is computed by
-- features.compute_range (features/compute_range.sql) and documented in docs/features.md.

create table features.feature_sets (
    feature_set_version integer primary key,
    description         text not null,
    created_at          timestamptz not null default now()
);

insert into features.feature_sets (feature_set_version, description) values
    (1, 'card velocity, amount vs 30-day history, previous-transaction distance and speed, '
        'recent variety, time of day, age, merchant risk with label delay');

grant select on features.feature_sets to pgfraud_scorer, pgfraud_trainer;
