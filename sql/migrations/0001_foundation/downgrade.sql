-- Undo migration 0001: drop the five schemas (and everything in them) and the roles.
alter default privileges in schema analytics revoke select on tables from pgfraud_reader;

drop schema analytics, ml, scoring, features, ingest cascade;

-- A role still holding privileges in another database of the cluster stays.
do $$
declare
    role_name text;
begin
    foreach role_name in array array[
        'pgfraud_producer', 'pgfraud_scorer', 'pgfraud_analyst', 'pgfraud_reader'
    ] loop
        begin
            execute format('drop role if exists %I', role_name);
        exception when dependent_objects_still_exist then
            raise notice 'role % is still used in another database; kept', role_name;
        end;
    end loop;
end
$$;
