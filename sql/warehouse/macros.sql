-- Rules that more than one statement applies, defined once per connection (warehouse.connect).
--
-- override_pct(provider, model, day): the negotiated discount, in percent off list, that
-- applies to `model` of `provider` on `day`: the most specific override in force wins (an
-- exact model name over a prefix, a longer prefix over a shorter one, any of those over a
-- provider-wide override); NULL when none is in force. contracted_discount is the same, 0
-- when none is. Reconciliation (reconcile/10_price_keys) and 'finops pricing show'
-- (pricing/entry_discounts) both read them, so they can never disagree.
CREATE OR REPLACE TEMP MACRO override_pct(p_provider, p_model, p_day) AS (
    SELECT o.discount_pct
    FROM price_overrides o
    WHERE o.provider = p_provider
      AND p_day >= o.effective_from AND (o.effective_to IS NULL OR p_day < o.effective_to)
      AND (o.match_kind = 'any' OR o.model_match = p_model
           OR (o.match_kind = 'prefix' AND starts_with(p_model, o.model_match)))
    ORDER BY CASE o.match_kind WHEN 'exact' THEN 2 WHEN 'prefix' THEN 1 ELSE 0 END DESC,
             length(coalesce(o.model_match, '')) DESC, o.discount_pct DESC
    LIMIT 1
);
CREATE OR REPLACE TEMP MACRO contracted_discount(p_provider, p_model, p_day) AS
    coalesce(override_pct(p_provider, p_model, p_day), CAST(0 AS DECIMAL(9,4)));

-- cache_write_at_input_rate(provider): the provider bills a cache write at the model's input
-- rate unless the price table prices cache writes for the model (OpenAI). The providers are
-- finops.canonical.CACHE_WRITE_AT_INPUT_RATE, set as a variable by warehouse.connect.
CREATE OR REPLACE TEMP MACRO cache_write_at_input_rate(p_provider) AS
    list_contains(getvariable('cache_write_at_input_rate'), p_provider);
