-- Every model seen in usage or billing in [$window_start, $window_end) with tokens of a
-- type that has no price in force that day, by the same most-specific-match rule as the
-- reconciliation (reads the price_keys temp table of reconcile/10_price_keys).
-- Grain: provider · model · tier · token type. Units: tokens, days. tokens are span tokens (the
-- report's unpriced table counts the same), billed_tokens what the bill counted: never added.
WITH seen AS (
    SELECT day, provider, model, service_tier, token_type, tokens, 'usage' AS side FROM (
        UNPIVOT (SELECT day, provider, model, service_tier,
                        input_tokens AS input, cache_read_tokens AS cache_read,
                        cache_write_tokens AS cache_write, output_tokens AS output
                 FROM usage_daily WHERE day >= $window_start AND day < $window_end)
        ON input, cache_read, cache_write, output INTO NAME token_type VALUE tokens)
    WHERE tokens > 0
    UNION ALL
    SELECT day, provider, model, service_tier, token_type, coalesce(billed_tokens, 0), 'billing'
    FROM billing_daily
    WHERE day >= $window_start AND day < $window_end AND token_type <> 'other' AND model <> ''
)
SELECT s.provider, s.model, s.service_tier, s.token_type,
       coalesce(sum(s.tokens) FILTER (WHERE s.side = 'usage'), 0) AS tokens,
       coalesce(sum(s.tokens) FILTER (WHERE s.side = 'billing'), 0) AS billed_tokens,
       min(s.day) AS first_day, max(s.day) AS last_day,
       string_agg(DISTINCT s.side, ',' ORDER BY s.side) AS seen_in
FROM seen s
JOIN price_keys pk
  ON pk.day = s.day AND pk.provider = s.provider AND pk.model = s.model
 AND pk.service_tier = s.service_tier AND pk.token_type = s.token_type
WHERE pk.usd_per_mtok IS NULL
GROUP BY ALL
ORDER BY s.provider, s.model, s.service_tier, s.token_type
