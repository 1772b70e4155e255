-- Spend per API key and workspace, billed (README "Spend per API key"). The cost reports carry
-- no API key, so each billed cell (day · provider · account · model · tier · token type, the
-- grain of billing_daily with 1-hour cache writes folded into cache writes as in
-- 30_bill_lines.sql) is split over its keys by their billed tokens in billing_key_tokens: the
-- cell's micro-dollars by largest remainder (floor of B × t / Σt, the leftover micro-dollars to
-- the largest remainders, ties by tokens then key id), so Σ keys = the cell exactly.
-- Money a key split cannot reach stays whole under api_key NULL, by reason:
--   'no_key_usage'  a token cell whose usage names no key (usage pages without api_key_id);
--   'not_tokens'    a charge that is not tokens (web search, storage);
--   'credit'        a credit or refund (a negative amount).
-- api_key '' is usage the provider attributes to no key (Anthropic's Console and Workbench).
-- Grain of the result: provider · account · api_key · reason. Units: billed USD DECIMAL(18,6)
-- exact (billed_exact) and in cents (billed): each account's rows rounded by largest remainder
-- against the account's exact total rounded half away from zero, so Σ rows = the account's
-- billed to the cent; tokens = the key's billed tokens in the month.
WITH cells AS (
    SELECT day, provider, account, model, service_tier,
           CASE WHEN amount < 0 THEN 'credit'
                WHEN token_type = 'cache_write_1h' THEN 'cache_write'
                ELSE token_type END AS token_type,
           sum(amount) AS billed
    FROM billing_daily
    WHERE day >= $window_start AND day < $window_end
    GROUP BY ALL
),
kt AS (
    SELECT day, provider, account, model, service_tier,
           CASE WHEN token_type = 'cache_write_1h' THEN 'cache_write' ELSE token_type END AS token_type,
           api_key, CAST(sum(billed_tokens) AS HUGEINT) AS tokens
    FROM billing_key_tokens
    WHERE day >= $window_start AND day < $window_end
    GROUP BY ALL
    HAVING sum(billed_tokens) > 0
),
keyed AS (  -- a token cell's keys, with the cell's money in micro-dollars
    SELECT c.day, c.provider, c.account, c.model, c.service_tier, c.token_type, k.api_key, k.tokens,
           CAST(abs(c.billed) * 1000000 AS HUGEINT) AS b_micro,
           CASE WHEN c.billed < 0 THEN -1 ELSE 1 END AS sgn,
           sum(k.tokens) OVER cell AS t_total
    FROM cells c
    JOIN kt k USING (day, provider, account, model, service_tier, token_type)
    WHERE c.token_type NOT IN ('other', 'credit')
    WINDOW cell AS (PARTITION BY c.day, c.provider, c.account, c.model, c.service_tier, c.token_type)
),
floored AS (
    SELECT *, (b_micro * tokens) // t_total AS base, (b_micro * tokens) % t_total AS rem
    FROM keyed
),
ranked AS (
    SELECT *,
           b_micro - sum(base) OVER cell AS leftover,
           row_number() OVER (PARTITION BY day, provider, account, model, service_tier, token_type
                              ORDER BY rem DESC, tokens DESC, api_key) AS rk
    FROM floored
    WINDOW cell AS (PARTITION BY day, provider, account, model, service_tier, token_type)
),
split AS (
    SELECT provider, account, api_key, NULL::VARCHAR AS reason, tokens,
           CAST(CAST(sgn * (base + CASE WHEN rk <= leftover THEN 1 ELSE 0 END) AS DECIMAL(38,0))
                * CAST(0.000001 AS DECIMAL(7,6)) AS DECIMAL(18,6)) AS billed
    FROM ranked
    UNION ALL
    SELECT c.provider, c.account, NULL, CASE c.token_type WHEN 'other' THEN 'not_tokens'
                                                          WHEN 'credit' THEN 'credit'
                                                          ELSE 'no_key_usage' END,
           0, c.billed
    FROM cells c
    WHERE c.token_type IN ('other', 'credit')
       OR NOT EXISTS (SELECT 1 FROM kt k
                      WHERE k.day = c.day AND k.provider = c.provider AND k.account = c.account
                        AND k.model = c.model AND k.service_tier = c.service_tier
                        AND k.token_type = c.token_type)
),
per_key AS (
    SELECT provider, account, api_key, reason, sum(billed) AS billed_exact,
           CAST(sum(tokens) AS BIGINT) AS tokens
    FROM split
    GROUP BY ALL
),
cent_split AS (
    SELECT *,
           CAST(floor(billed_exact * 100) AS HUGEINT) AS base_c,
           billed_exact * 100 - floor(billed_exact * 100) AS rem_c,
           CAST(round(sum(billed_exact) OVER acc * 100) AS HUGEINT) AS acc_c
    FROM per_key
    WINDOW acc AS (PARTITION BY provider, account)
),
cent_ranked AS (
    SELECT *,
           acc_c - sum(base_c) OVER acc AS leftover_c,
           row_number() OVER (PARTITION BY provider, account
                              ORDER BY rem_c DESC, billed_exact DESC, api_key NULLS LAST, reason) AS rk
    FROM cent_split
    WINDOW acc AS (PARTITION BY provider, account)
)
SELECT r.provider, r.account, r.api_key, r.reason, r.billed_exact, r.tokens, n.name, n.hint,
       CAST(CAST(r.base_c + CASE WHEN r.rk <= r.leftover_c THEN 1 ELSE 0 END AS DECIMAL(38,0))
            * CAST(0.01 AS DECIMAL(3,2)) AS DECIMAL(18,2)) AS billed
FROM cent_ranked r
LEFT JOIN api_keys n ON n.provider = r.provider AND n.api_key = r.api_key
ORDER BY r.provider, r.account, r.billed_exact DESC, r.api_key NULLS LAST, r.reason
