-- Queries of `pgfraud clock` (pgfraud/cli/clock.py). Role: the owner.

-- name: state
-- NULL for the clock of an empty database ('-infinity' has no Python value).
select nullif(c.max_transacted_at, '-infinity') as event_clock, now() as wall_clock,
       p.earliest_event_at,
       p.max_ahead, greatest(c.max_transacted_at, now()) + p.max_ahead as accepts_until
from ingest.event_clock as c, ingest.event_time_policy as p;

-- name: recent_changes
-- The latest policy changes and clock repairs, newest first (audited by the database).
select changed_at, changed_by, setting, old_value, new_value, reason
from ingest.event_clock_changes
order by event_clock_change_id desc
limit %(limit)s;

-- name: implausible_count
-- Rows quarantined because their event time lay outside the policy.
select count(*) from ingest.quarantine where reason = 'implausible_time';

-- name: set_policy
-- Change the event-time policy (NULL keeps a bound); returns the policy now in force.
select earliest_event_at, max_ahead
from ingest.set_event_time_policy(%(earliest)s, %(max_ahead)s, %(reason)s);

-- name: repair
-- Set the event clock (NULL: to the latest stored time the policy allows); returns it.
select nullif(ingest.repair_event_clock(%(to)s, %(reason)s), '-infinity');
