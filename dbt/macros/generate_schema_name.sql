{#- Marts go to the target schema (analytics); a folder with +schema: X goes to
    <target schema>_X (analytics_staging). dbt's default, written out so it is visible. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
