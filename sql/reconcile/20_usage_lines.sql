-- Span usage priced, one row per day · provider · account · model · tier · token type ·
-- team · project · feature (sources summed). Units: tokens; USD DECIMAL(38,12) for
-- estimated (contracted price) and list_cost; cost_pico = estimated in 1e-12 USD as an
-- integer, the exact allocation weight. A line with tokens but no price is unpriced:
-- its cost is NULL, never 0.
CREATE OR REPLACE TEMP TABLE usage_lines AS
WITH u AS (
    SELECT day, provider, account, model, service_tier, team, project, feature,
           sum(input_tokens) AS input, sum(cache_read_tokens) AS cache_read,
           sum(cache_write_tokens) AS cache_write, sum(output_tokens) AS output
    FROM usage_daily
    WHERE day >= $window_start AND day < $window_end
    GROUP BY ALL
),
lines AS (
    UNPIVOT u ON input, cache_read, cache_write, output INTO NAME token_type VALUE tokens
)
SELECT l.day, l.provider, l.account, l.model, l.service_tier, l.token_type,
       l.team, l.project, l.feature, l.tokens,
       pk.usd_per_mtok, pk.list_usd_per_mtok,
       CASE WHEN pk.usd_per_mtok IS NULL THEN l.tokens ELSE 0 END AS unpriced_tokens,
       l.tokens * (pk.usd_per_mtok * CAST(0.000001 AS DECIMAL(7,6))) AS estimated,
       l.tokens * (pk.list_usd_per_mtok * CAST(0.000001 AS DECIMAL(7,6))) AS list_cost,
       CAST(l.tokens AS HUGEINT) * CAST(pk.usd_per_mtok * 1000000 AS HUGEINT) AS cost_pico
FROM lines l
LEFT JOIN price_keys pk
  ON pk.day = l.day AND pk.provider = l.provider AND pk.model = l.model
 AND pk.service_tier = l.service_tier AND pk.token_type = l.token_type
WHERE l.tokens > 0
