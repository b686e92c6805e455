-- Undo migration 0009.
alter table ml.retrain_decisions drop column event_at;
