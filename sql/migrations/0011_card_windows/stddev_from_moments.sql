-- stddev_samp from exact moments, to the digit.
--
-- PostgreSQL's numeric stddev_samp computes the variance as
-- (n * sum(x^2) - sum(x)^2) / (n * (n - 1)), rounded at the scale numeric division picks
-- for those two operands, and returns its square root correctly rounded at that same
-- scale. features.compute_batch passes the variance computed by the same division from
-- exact numeric sums (so its value and scale are the same); this takes the root at the
-- variance's scale. sqrt() rounds at a scale of its own, at least as fine, so rounding
-- again could round a ...4999|5 up: the last step checks the candidate against the
-- variance exactly (numeric multiplication is exact) and steps down when it was.

create function features.stddev_from_moments(p_n bigint, p_variance numeric) returns numeric
language sql
immutable
as $$
    select case
        when p_n <= 1 then null
        when p_variance <= 0 then 0::numeric
        when (round(sqrt(p_variance), scale(p_variance)) - 0.5 * 0.1 ^ scale(p_variance))
             * (round(sqrt(p_variance), scale(p_variance)) - 0.5 * 0.1 ^ scale(p_variance))
             > p_variance
            then round(round(sqrt(p_variance), scale(p_variance)) - 0.1 ^ scale(p_variance),
                       scale(p_variance))
        else round(sqrt(p_variance), scale(p_variance))
    end
$$;

comment on function features.stddev_from_moments(bigint, numeric) is
    'stddev_samp of n values from their variance, rounded exactly as numeric stddev_samp rounds.';

revoke all on function features.stddev_from_moments(bigint, numeric) from public;
