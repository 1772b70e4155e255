-- Billing keys of a source's window whose billing_charges rows do not add up to the
-- billing_daily row (money or currency), after a load. Grain: billing key. Units: USD as billed.
-- Empty when the side table ties to the bill, as it must.
WITH c AS (
    SELECT day, provider, account, model, service_tier, token_type, line_item, currency,
           sum(amount) AS charged
    FROM billing_charges
    WHERE source = $source AND day >= $window_start AND day < $window_end
    GROUP BY ALL
),
b AS (
    SELECT day, provider, account, model, service_tier, token_type, line_item, currency,
           amount AS billed
    FROM billing_daily
    WHERE source = $source AND day >= $window_start AND day < $window_end
)
SELECT coalesce(c.day, b.day) AS day, coalesce(c.provider, b.provider) AS provider,
       coalesce(c.account, b.account) AS account, coalesce(c.model, b.model) AS model,
       coalesce(c.token_type, b.token_type) AS token_type,
       coalesce(c.line_item, b.line_item) AS line_item,
       coalesce(c.charged, 0) AS charged, coalesce(b.billed, 0) AS billed
FROM c
FULL OUTER JOIN b USING (day, provider, account, model, service_tier, token_type, line_item, currency)
WHERE c.charged IS DISTINCT FROM b.billed
ORDER BY 1, 2, 3, 4, 5, 6
LIMIT 1
