-- Undo migration 0023: the stored payload hashes back in the form revision 0022's
-- producers make (records.payload_sha256 before 0023): SHA-256 of the payload fields as
-- text joined by U+001F; the time as Python's isoformat() in UTC, amounts with two
-- decimals, coordinates as Python's repr() of a float ('40.0', '-0.0', '1e-05'; the
-- database's shortest exact output is the same digits, for every value a coordinate
-- can hold, once an integral value gets its '.0'), a missing value as 'None', a missing
-- birth date as ''.

set local extra_float_digits = 1;

create function pg_temp.python_repr(p_value double precision)
returns text
language sql
immutable
return case
    when p_value is null then 'None'
    when p_value::text ~ '[.e]' then p_value::text
    else p_value::text || '.0'
end;

update ingest.transactions as t
set payload_sha256 = encode(sha256(convert_to(concat_ws(e'\x1f',
    t.trans_num,
    to_char(t.transacted_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || case when extract(microseconds from t.transacted_at)::bigint % 1000000 = 0 then ''
                else '.' || to_char(t.transacted_at at time zone 'UTC', 'US') end
        || '+00:00',
    t.card_token,
    t.amount::text,
    t.merchant,
    t.category,
    pg_temp.python_repr(t.merchant_lat),
    pg_temp.python_repr(t.merchant_long),
    pg_temp.python_repr(t.home_lat),
    pg_temp.python_repr(t.home_long),
    coalesce(t.city_pop::text, 'None'),
    coalesce(to_char(t.cardholder_birth_date, 'YYYY-MM-DD'), '')
), 'UTF8')), 'hex');

drop function pg_temp.python_repr(double precision);
drop function ingest.payload_sha256(ingest.transactions);
drop function ingest.copy_field(bytea);
