{#-
    The feature columns of `relation` (features.model_input_v1 or its staging view):
    every column but the keys, as ml.feature_drift reads the view (its columns from the
    catalog, minus the key columns), so a feature added to the view is measured by both. Empty
    while dbt parses (no database then); the models using it are compiled at run time.
-#}
{% macro model_input_features(relation) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set keys = ['transaction_id', 'trans_num', 'transacted_at', 'transacted_on',
                    'card_token', 'feature_set_version'] -%}
    {%- set columns = adapter.get_columns_in_relation(relation) -%}
    {{ return(columns | map(attribute='name') | reject('in', keys) | list) }}
{% endmacro %}
