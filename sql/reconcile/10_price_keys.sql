-- Prices in force for every (day, provider, model, tier, token type) seen on either side
-- in [$window_start, $window_end). Grain: that key. Units: USD per million tokens.
-- The most specific model entry wins (exact name over prefix, longer prefix over shorter),
-- chosen per model and day across token types, so a dated snapshot priced differently
-- never borrows its family's price for a token type it lacks. Overrides: the most specific
-- negotiated discount in force (the contracted_discount macro, sql/warehouse/macros.sql);
-- contracted = list × (1 − pct/100), kept to 6 decimals per million tokens (1e-12 USD per token).
-- A cache write of a provider that bills cache writes as input (cache_write_at_input_rate,
-- sql/warehouse/macros.sql) takes the model's input price when the model has no cache-write
-- price of its own.
CREATE OR REPLACE TEMP TABLE price_keys AS
WITH keys AS (
    SELECT DISTINCT day, provider, model, service_tier, token_type FROM (
        SELECT day, provider, model, service_tier, unnest(['input', 'cache_read', 'cache_write', 'output']) AS token_type
        FROM usage_daily WHERE day >= $window_start AND day < $window_end
        UNION ALL
        SELECT day, provider, model, service_tier, token_type
        FROM billing_daily WHERE day >= $window_start AND day < $window_end AND token_type <> 'other'
    )
),
model_days AS (SELECT DISTINCT day, provider, model FROM keys),
best_entry AS (
    SELECT md.day, md.provider, md.model, p.model_match, p.match_kind,
           row_number() OVER (
               PARTITION BY md.day, md.provider, md.model
               ORDER BY (p.match_kind = 'exact') DESC, length(p.model_match) DESC, p.model_match
           ) AS rn
    FROM model_days md
    JOIN prices p
      ON p.provider = md.provider
     AND md.day >= p.effective_from AND (p.effective_to IS NULL OR md.day < p.effective_to)
     AND (p.model_match = md.model OR (p.match_kind = 'prefix' AND starts_with(md.model, p.model_match)))
),
model_discount AS (
    SELECT day, provider, model, contracted_discount(provider, model, day) AS discount_pct FROM model_days
)
SELECT k.day, k.provider, k.model, k.service_tier, k.token_type,
       be.model_match AS price_match,
       coalesce(p.usd_per_mtok, pin.usd_per_mtok) AS list_usd_per_mtok,
       CAST(round(coalesce(p.usd_per_mtok, pin.usd_per_mtok) * (100 - md.discount_pct) * 0.01, 6)
            AS DECIMAL(18,6)) AS usd_per_mtok,
       md.discount_pct
FROM keys k
JOIN model_discount md ON md.day = k.day AND md.provider = k.provider AND md.model = k.model
LEFT JOIN best_entry be
  ON be.rn = 1 AND be.day = k.day AND be.provider = k.provider AND be.model = k.model
LEFT JOIN prices p
  ON p.provider = k.provider AND p.model_match = be.model_match AND p.match_kind = be.match_kind
 AND p.token_type = k.token_type AND p.service_tier = k.service_tier
 AND k.day >= p.effective_from AND (p.effective_to IS NULL OR k.day < p.effective_to)
LEFT JOIN prices pin
  ON k.token_type = 'cache_write' AND cache_write_at_input_rate(k.provider)
 AND pin.provider = k.provider AND pin.model_match = be.model_match AND pin.match_kind = be.match_kind
 AND pin.token_type = 'input' AND pin.service_tier = k.service_tier
 AND k.day >= pin.effective_from AND (pin.effective_to IS NULL OR k.day < pin.effective_to)
