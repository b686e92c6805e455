-- Privileges for migration 0005's objects. (Dashboards read them through dbt models in
-- analytics, not directly.)
-- FOR UPDATE (the claim) needs UPDATE privilege; the scorer never updates a row.
grant select, update, delete on scoring.pending to pgfraud_scorer;
grant select, insert on scoring.alerts to pgfraud_scorer;
grant select on scoring.alerts to pgfraud_analyst;
revoke all on function scoring.enqueue_new_transactions() from public;
