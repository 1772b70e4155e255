-- 'finops pricing show': the contracted discount of each price entry on $day, by the same rule
-- reconciliation applies (the override_pct macro, sql/warehouse/macros.sql), reading the entry's
-- match text as the model name; NULL where no override is in force.
-- Grain: provider · model_match · match_kind. Units: percent.
SELECT provider, model_match, match_kind, override_pct(provider, model_match, $day) AS discount_pct
FROM price_entries
