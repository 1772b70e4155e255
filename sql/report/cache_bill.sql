-- The bill's own cache token lines, per provider, priced like cache_return.sql so the two can be
-- compared: cache-read tokens billed and what they were billed, and what they would have cost at
-- the input price; cache-write tokens (5-minute and 1-hour) likewise. Lines the bill marks with a
-- surcharge (long context, region, priority) are left out: their base is not the input price.
-- Grain: provider. Units: tokens; USD (billed exact DECIMAL(38,6); at_input DECIMAL(38,12)).
-- A provider with no cache lines in the bill (or lines without token counts) has no row or NULLs.
WITH prices AS (
    SELECT day, provider, model, service_tier, max(usd_per_mtok) AS p_input
    FROM recon_lines
    WHERE month = $window_start AND token_type = 'input' AND usd_per_mtok IS NOT NULL
    GROUP BY ALL
),
lines AS (
    SELECT b.provider, CASE WHEN b.token_type = 'cache_read' THEN 'read' ELSE 'write' END AS kind,
           b.billed_tokens, b.amount, p.p_input
    FROM billing_daily b
    LEFT JOIN prices p USING (day, provider, model, service_tier)
    WHERE b.day >= $window_start AND b.day < $window_end AND b.amount >= 0 AND b.premium IS NULL
      AND b.token_type IN ('cache_read', 'cache_write', 'cache_write_1h') AND b.billed_tokens IS NOT NULL
)
SELECT provider,
       coalesce(sum(billed_tokens) FILTER (WHERE kind = 'read'), 0)::BIGINT  AS cache_read_tokens,
       coalesce(sum(amount) FILTER (WHERE kind = 'read' AND p_input IS NOT NULL), 0) AS cache_read_billed,
       coalesce(sum(billed_tokens * p_input * CAST(0.000001 AS DECIMAL(7,6))) FILTER (WHERE kind = 'read'), 0)
           AS cache_read_at_input,
       coalesce(sum(billed_tokens) FILTER (WHERE kind = 'write'), 0)::BIGINT AS cache_write_tokens,
       coalesce(sum(amount) FILTER (WHERE kind = 'write' AND p_input IS NOT NULL), 0) AS cache_write_billed,
       coalesce(sum(billed_tokens * p_input * CAST(0.000001 AS DECIMAL(7,6))) FILTER (WHERE kind = 'write'), 0)
           AS cache_write_at_input
FROM lines
GROUP BY provider
ORDER BY provider
