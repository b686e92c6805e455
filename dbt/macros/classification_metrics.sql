{#-
    Ranking and decision metrics per (day, model_version, role) over the rows of
    `relation` where `label` is not null (`label` is a boolean column: true = fraud).

    roc_auc: the Mann-Whitney rank statistic, tied scores sharing their average rank
        (equals sklearn.metrics.roc_auc_score); null unless both classes occur.
    average_precision: sum over distinct scores, highest first, of
        (recall gained at that score) x (precision at that score) (equals
        sklearn.metrics.average_precision_score); null without positives.
    precision, recall, f1: of the decision (is_alert) against the label.
    card_precision_at_100: share of the 100 highest-scored cards (a card's score is its
        highest score that day; ties broken by card token) with any fraud; fewer than
        100 cards rank all of them (pgfraud.lifecycle.metrics.card_precision_at_k).
    Exact arithmetic (numeric) is kept for ranks; ratios are float8.
-#}
{% macro classification_metrics(relation, label) %}
    with

    labelled as (

        select day, model_version, role, card_token, score, is_alert, {{ label }} as y
        from {{ relation }}
        where {{ label }} is not null

    ),

    counts as (

        select
            day, model_version, role,
            count(*) filter (where y) as positives,
            count(*) filter (where not y) as negatives,
            count(*) filter (where y and is_alert) as true_positives,
            count(*) filter (where not y and is_alert) as false_positives

        from labelled
        group by 1, 2, 3

    ),

    ranked as (

        select
            day, model_version, role, y,
            rank() over (partition by day, model_version, role order by score)
                + (count(*) over (partition by day, model_version, role, score) - 1) / 2.0
                as average_rank

        from labelled

    ),

    rank_sums as (

        select day, model_version, role,
               coalesce(sum(average_rank) filter (where y), 0) as positive_rank_sum
        from ranked
        group by 1, 2, 3

    ),

    by_score as (

        select day, model_version, role, score,
               count(*) filter (where y) as positives_at, count(*) as rows_at
        from labelled
        group by 1, 2, 3, 4

    ),

    cumulative as (

        select
            day, model_version, role, positives_at,
            sum(positives_at) over score_order as positives_above,
            sum(rows_at) over score_order as rows_above

        from by_score
        window score_order as (partition by day, model_version, role order by score desc)

    ),

    precision_sums as (

        select day, model_version, role,
               sum(positives_at::float8 * positives_above / rows_above) as weighted_precision
        from cumulative
        group by 1, 2, 3

    ),

    cards as (

        select day, model_version, role, card_token,
               max(score) as card_score, bool_or(y) as is_compromised
        from labelled
        group by 1, 2, 3, 4

    ),

    card_ranks as (

        select
            *,
            row_number() over (
                partition by day, model_version, role
                order by card_score desc, card_token collate "C"
            ) as card_rank

        from cards

    ),

    card_precision as (

        select day, model_version, role,
               avg(is_compromised::int::float8) as card_precision_at_100
        from card_ranks
        where card_rank <= 100
        group by 1, 2, 3

    )

    select
        counts.day,
        counts.model_version,
        counts.role,
        counts.positives + counts.negatives as labelled,
        counts.positives,
        counts.true_positives::float8
            / nullif(counts.true_positives + counts.false_positives, 0) as precision,
        counts.true_positives::float8 / nullif(counts.positives, 0) as recall,
        2.0::float8 * counts.true_positives / nullif(
            counts.true_positives + counts.false_positives + counts.positives, 0) as f1,
        case when counts.positives > 0 and counts.negatives > 0 then
            ((rank_sums.positive_rank_sum - counts.positives * (counts.positives + 1) / 2.0)
             / (counts.positives::numeric * counts.negatives))::float8
        end as roc_auc,
        case when counts.positives > 0 then
            precision_sums.weighted_precision / counts.positives
        end as average_precision,
        card_precision.card_precision_at_100

    from counts
    inner join rank_sums using (day, model_version, role)
    inner join precision_sums using (day, model_version, role)
    inner join card_precision using (day, model_version, role)
{% endmacro %}
