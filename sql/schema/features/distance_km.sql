-- Great-circle distance (haversine), mean Earth radius 6371.0088 km; NULL when a
-- coordinate is unknown. Written as one strict expression so the planner inlines it
-- (a non-inlined SQL function cost ~60 us a call, measured). Coordinates are rounded to
-- 1e-9 degree (0.1 mm): PostgreSQL raises on float underflow, which squaring a denormal
-- coordinate difference would trigger, and one odd row must not fail an ingest batch.
-- atan2(sqrt(a), sqrt(|1 - a|)) instead of asin(sqrt(a)) stays defined when rounding
-- puts a a hair above 1.
create function features.distance_km(lat1 double precision, long1 double precision,
                                     lat2 double precision, long2 double precision)
returns double precision
language sql
immutable
strict
parallel safe
as $$
    select 2 * 6371.0088 * atan2(
        sqrt(
            power(sin(radians((round(lat2 * 1e9) - round(lat1 * 1e9)) / 1e9) / 2), 2)
            + cos(radians(round(lat1 * 1e9) / 1e9)) * cos(radians(round(lat2 * 1e9) / 1e9))
              * power(sin(radians((round(long2 * 1e9) - round(long1 * 1e9)) / 1e9) / 2), 2)
        ),
        sqrt(abs(1 - (
            power(sin(radians((round(lat2 * 1e9) - round(lat1 * 1e9)) / 1e9) / 2), 2)
            + cos(radians(round(lat1 * 1e9) / 1e9)) * cos(radians(round(lat2 * 1e9) / 1e9))
              * power(sin(radians((round(long2 * 1e9) - round(long1 * 1e9)) / 1e9) / 2), 2)
        )))
    )
$$;

revoke all on function features.distance_km(double precision, double precision,
                                            double precision, double precision) from public;
