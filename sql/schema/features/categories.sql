-- The merchant category as a model feature (features/model_input_v1.sql): a fixed code
-- per category, so a model trained today reads the same number tomorrow. A category not
-- listed gets a NULL code.

create table features.categories (
    category        text primary key,
    category_code   integer not null unique
);

comment on table features.categories is
    'Fixed integer codes for the 14 Kaggle-layout merchant categories (a model feature).';

insert into features.categories (category, category_code) values
    ('entertainment', 1), ('food_dining', 2), ('gas_transport', 3), ('grocery_net', 4),
    ('grocery_pos', 5), ('health_fitness', 6), ('home', 7), ('kids_pets', 8),
    ('misc_net', 9), ('misc_pos', 10), ('personal_care', 11), ('shopping_net', 12),
    ('shopping_pos', 13), ('travel', 14);
