-- A card number in text: ingest.has_card_number(text), true exactly when the producer's
-- find_card_numbers (producer/cards.py, whose docstring defines a candidate) finds one,
-- and ingest.luhn_valid(digits). ingest.accept_batch refuses staged rows whose trans_num,
-- merchant or category hold one ('card_number_in_text'); scoring.write_label refuses such
-- a label note and ml.refuse_card_numbers_in_decision such a retraining decision.
--
-- Exact, not a subset: same candidates (plain 13-19 digit runs; 4-4-4-4[-1..3],
-- 4-4-4-1..3, 4-6-4 and 4-6-5 groups joined by one space, dot or dash, longest layout
-- first, left to right), same exclusions (numbers in other notations: decimals, leading-
-- dot decimals, exponents; plain runs inside a hex run of 32+ characters; dash groups
-- starting inside a UUID), same test of the digits (Luhn-valid, not starting with 0). A
-- Hypothesis test sends the same adversarial strings to both
-- (tests/integration/test_card_numbers_sql.py).
--
-- Why not one regular expression as in Python: PostgreSQL evaluates a lookbehind by
-- rescanning from the start of the string, and the hex-run and UUID exclusions written as
-- lookarounds cost ~1 ms per string that reaches them. Here the regular expressions keep
-- only short lookarounds, and a loop checks the exclusions on each match with bounded
-- substrings; an excluded dash match resumes the scan one character later, which is what
-- a failed lookahead does. Plain runs and groups never share a digit, so they are scanned
-- apart, each behind a cheap test of its own.
--
-- Cost per call, PostgreSQL 15, measured as count(*) filter (where
-- ingest.has_card_number(x)) over 100k values minus the same scan without the call:
--   merchant names ('fraud_Kirlin and Sons')      1.0 us
--   categories ('grocery_pos')                     0.8 us
--   32-hex trans_nums                              1.8 us (2.3% of random hex ids hold 13
--                                                  digits in a row: ~10 us each, stopped
--                                                  by the hex-run test before any loop)
--   text holding a candidate ('ref4111…')          15-40 us (loops, Luhn check)
-- Typical values are answered by the first regular expression (13 digits with at most
-- one separator between two), before any loop. No `set search_path`: it costs 1.0 us per
-- call (+100%); the functions run with the caller's rights (not security definer),
-- ingest.accept_batch calls them under its own fixed search_path, and luhn_valid's
-- SQL-standard body is bound to pg_catalog when it is created. Not an inlined SQL
-- function either: PostgreSQL inlines a strict SQL function only when its body is strict
-- throughout, and `prefilter and scan` is not (an inlined non-strict wrapper would save
-- ~0.4 us per call).

create function ingest.luhn_valid(p_digits text)
returns boolean
language sql
immutable
strict
parallel safe
-- Digits only ('' and anything else: false). Right to left, every second digit doubled.
return p_digits ~ '^[0-9]+$' and (
    select sum(case when d.position % 2 = 1 then d.digit
                    when d.digit < 5 then 2 * d.digit
                    else 2 * d.digit - 9 end) % 10 = 0
    from unnest(string_to_array(reverse(p_digits), null)::integer[])
        with ordinality as d (digit, position)
);

comment on function ingest.luhn_valid(text) is
    'Luhn checksum of a string of digits (false for anything else).';

create function ingest.has_card_number(p_text text)
returns boolean
language plpgsql
immutable
strict
parallel safe
as $$
declare
    -- A maximal run of 13-19 digits.
    c_plain constant text := '(?<![0-9])[0-9]{13,19}(?![0-9])';
    -- Grouped numbers by space, dot or dash, the longest layout first at a position.
    c_grouped constant text :=
        '(?<![0-9])[0-9]{4} (?:[0-9]{4} [0-9]{4} [0-9]{4}(?: [0-9]{1,3})?'
            '|[0-9]{4} [0-9]{4} [0-9]{1,3}|[0-9]{6} [0-9]{4,5})(?![0-9])'
        '|(?<![0-9])[0-9]{4}[.](?:[0-9]{4}[.][0-9]{4}[.][0-9]{4}(?:[.][0-9]{1,3})?'
            '|[0-9]{4}[.][0-9]{4}[.][0-9]{1,3}|[0-9]{6}[.][0-9]{4,5})(?![0-9])'
        '|(?<![0-9])[0-9]{4}-(?:[0-9]{4}-[0-9]{4}-[0-9]{4}(?:-[0-9]{1,3})?'
            '|[0-9]{4}-[0-9]{4}-[0-9]{1,3}|[0-9]{6}-[0-9]{4,5})(?![0-9])';
    c_uuid constant text :=
        '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}';
    v_from      integer;        -- the scan resumes here
    v_at        integer;        -- where the next match starts
    v_match     text;
    v_window    integer;        -- first character of the text around a dash match
begin
    -- Every candidate holds 13 digits with at most one separator between two: typical
    -- text stops here.
    if p_text !~ '[0-9](?:[ .-]?[0-9]){12}' then
        return false;
    end if;

    -- Plain runs, unless every 13 digits in a row sit in a hex run of 32 or more (a
    -- hex id that happens to hold 13 digits in a row stops here).
    if regexp_replace(p_text, '[0-9A-Fa-f]{32,}', ' ', 'g') ~ '[0-9]{13}' then
        v_from := 1;
        loop
            v_at := regexp_instr(p_text, c_plain, v_from);
            exit when v_at = 0;
            v_match := substring(substr(p_text, v_at, 19), '^[0-9]+');
            -- Not a candidate: part of a number in another notation (after a dot that
            -- follows no letter; before .<digit> or an exponent), or inside a maximal
            -- hex run of 32 or more characters (32 characters either side tell).
            if right(left(p_text, v_at - 1), 2) !~ '(^|[^A-Za-z])[.]$'
               and substr(p_text, v_at + length(v_match), 3) !~ '^([.][0-9]|[eE][+-]?[0-9])'
               and length(substring(right(left(p_text, v_at - 1), 32), '[0-9A-Fa-f]*$'))
                   + length(v_match)
                   + length(substring(substr(p_text, v_at + length(v_match), 32),
                                      '^[0-9A-Fa-f]*')) < 32
               and v_match !~ '^0'
               and ingest.luhn_valid(v_match) then
                return true;
            end if;
            v_from := v_at + length(v_match);
        end loop;
    end if;

    -- Grouped numbers: they never share a digit with a plain run, so scanning for each
    -- kind apart finds what one scan for both would. A dash match starting inside a
    -- UUID (a 36-character window beginning at most 35 characters before it) is not a
    -- candidate, and the scan goes on from the next character, as a failed lookahead
    -- would.
    if p_text ~ '[0-9]{4}[ .-][0-9]{4}' then   -- how every layout starts
        v_from := 1;
        loop
            v_at := regexp_instr(p_text, c_grouped, v_from);
            exit when v_at = 0;
            v_match := regexp_substr(p_text, c_grouped, v_at);
            v_window := greatest(v_at - 35, 1);
            if strpos(v_match, '-') > 0
               and regexp_instr(substr(p_text, v_window, 71), c_uuid)
                   between 1 and v_at - v_window + 1 then
                v_from := v_at + 1;
            elsif v_match !~ '^0' and ingest.luhn_valid(translate(v_match, ' .-', '')) then
                return true;
            else
                v_from := v_at + length(v_match);
            end if;
        end loop;
    end if;
    return false;
end;
$$;

comment on function ingest.has_card_number(text) is
    'True when the text holds a Luhn-valid card number (the definition in producer/cards.py).';

-- Called only inside security definer functions (accept_batch, write_label, the decision
-- trigger); no role calls them directly.
revoke all on function ingest.luhn_valid(text), ingest.has_card_number(text) from public;
