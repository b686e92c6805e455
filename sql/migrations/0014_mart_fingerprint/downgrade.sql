-- Undo migration 0014.
drop table analytics.mart_builds;
