-- A decision's event time (migration 0009).
--
-- decided_at is the wall clock of the round. A replay decides a whole backtest in
-- minutes, so every decision of a six-month file shares one afternoon; event_at is the
-- moment in event time the round decided as of: min(the round's cutoff, the event clock),
-- the end of the windows its evidence was measured over. Live, the two are close.
-- Rows recorded before this migration have none.

alter table ml.retrain_decisions add column event_at timestamptz;

comment on column ml.retrain_decisions.event_at is
    'Event time the round decided as of (cutoff or event clock, the earlier); decided_at is wall time.';
