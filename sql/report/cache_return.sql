-- What prompt caching returned, per team, at the contracted prices in force (recon_lines'
-- usd_per_mtok for the day · provider · model · tier). Grain: team · provider. Units: tokens; USD
-- (DECIMAL(38,12), exact). saved = cache-read tokens × (input price − cache-read price): what
-- those tokens would have cost uncached, less what they cost; write_premium = cache-write tokens
-- × (cache-write price − input price): the extra paid to write the cache. Tokens whose model has
-- no price for the types compared are counted in unpriced_cache_tokens and left out of the money.
WITH prices AS (
    SELECT day, provider, model, service_tier,
           max(usd_per_mtok) FILTER (WHERE token_type = 'input')       AS p_input,
           max(usd_per_mtok) FILTER (WHERE token_type = 'cache_read')  AS p_read,
           max(usd_per_mtok) FILTER (WHERE token_type = 'cache_write') AS p_write
    FROM recon_lines
    WHERE month = $window_start AND usd_per_mtok IS NOT NULL
    GROUP BY ALL
),
tokens AS (
    SELECT team, day, provider, model, service_tier,
           coalesce(sum(tokens) FILTER (WHERE token_type = 'input'), 0)       AS input_tokens,
           coalesce(sum(tokens) FILTER (WHERE token_type = 'cache_read'), 0)  AS cache_read_tokens,
           coalesce(sum(tokens) FILTER (WHERE token_type = 'cache_write'), 0) AS cache_write_tokens
    FROM recon_alloc
    WHERE month = $window_start AND token_type IN ('input', 'cache_read', 'cache_write')
    GROUP BY ALL
)
SELECT t.team, t.provider,
       sum(t.input_tokens)::BIGINT       AS input_tokens,
       sum(t.cache_read_tokens)::BIGINT  AS cache_read_tokens,
       sum(t.cache_write_tokens)::BIGINT AS cache_write_tokens,
       coalesce(sum(t.cache_read_tokens * (p.p_input - p.p_read) * CAST(0.000001 AS DECIMAL(7,6)))
                FILTER (WHERE p.p_input IS NOT NULL AND p.p_read IS NOT NULL), 0) AS saved,
       coalesce(sum(t.cache_write_tokens * (p.p_write - p.p_input) * CAST(0.000001 AS DECIMAL(7,6)))
                FILTER (WHERE p.p_input IS NOT NULL AND p.p_write IS NOT NULL), 0) AS write_premium,
       (coalesce(sum(t.cache_read_tokens) FILTER (WHERE p.p_input IS NULL OR p.p_read IS NULL), 0)
        + coalesce(sum(t.cache_write_tokens) FILTER (WHERE p.p_input IS NULL OR p.p_write IS NULL), 0)
       )::BIGINT AS unpriced_cache_tokens
FROM tokens t
LEFT JOIN prices p USING (day, provider, model, service_tier)
GROUP BY t.team, t.provider
ORDER BY t.team, t.provider
