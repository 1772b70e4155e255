-- Estimated vs billed per cell line, with the drift explained (DESIGN.md):
--   volume      = (T_spans − T_billed) × p        where billed tokens are known
--   rate        = T_billed × p − B                (stale table, discounts, cache/batch rates)
--   unpriced    = −B                              where the line has no price
--   unmatched   = −B (bill, no spans) or +E (spans, no bill)
--   unexplained = E − B                           billed tokens unknown, or non-token charges
-- so that volume + rate + unpriced + unmatched + unexplained = E − B on every line.
CREATE OR REPLACE TEMP TABLE lines AS
WITH est AS (
    SELECT day, provider, account, model, service_tier, token_type,
           sum(tokens) AS span_tokens, sum(unpriced_tokens) AS unpriced_tokens,
           sum(estimated) AS estimated, any_value(usd_per_mtok) AS usd_per_mtok
    FROM usage_lines
    GROUP BY ALL
),
j AS (
    SELECT coalesce(e.day, b.day) AS day, coalesce(e.provider, b.provider) AS provider,
           coalesce(e.account, b.account) AS account, coalesce(e.model, b.model) AS model,
           coalesce(e.service_tier, b.service_tier) AS service_tier,
           coalesce(e.token_type, b.token_type) AS token_type,
           e.span_tokens, e.unpriced_tokens, e.estimated, e.usd_per_mtok,
           b.billed, b.billed_tokens,
           CASE WHEN e.day IS NULL THEN 'billed_only' WHEN b.day IS NULL THEN 'spans_only'
                ELSE 'matched' END AS status
    FROM est e
    FULL OUTER JOIN bill_lines b
      ON e.day = b.day AND e.provider = b.provider AND e.account = b.account
     AND e.model = b.model AND e.service_tier = b.service_tier AND e.token_type = b.token_type
),
p AS (
    -- the price of a billed-only line is still useful for the rate part when tokens are known
    SELECT j.*, coalesce(j.usd_per_mtok, pk.usd_per_mtok) AS price
    FROM j LEFT JOIN price_keys pk
      ON pk.day = j.day AND pk.provider = j.provider AND pk.model = j.model
     AND pk.service_tier = j.service_tier AND pk.token_type = j.token_type
)
SELECT day, provider, account, model, service_tier, token_type, status,
       span_tokens, unpriced_tokens, estimated, price AS usd_per_mtok, billed, billed_tokens,
       CASE WHEN status = 'matched' AND price IS NOT NULL AND billed_tokens IS NOT NULL
            THEN (span_tokens - billed_tokens) * (price * CAST(0.000001 AS DECIMAL(7,6))) END AS volume,
       CASE WHEN status = 'matched' AND price IS NOT NULL AND billed_tokens IS NOT NULL
            THEN billed_tokens * (price * CAST(0.000001 AS DECIMAL(7,6))) - billed END AS rate,
       CASE WHEN status = 'matched' AND price IS NULL THEN -billed END AS unpriced,
       CASE WHEN status = 'billed_only' THEN CAST(-billed AS DECIMAL(38,12))
            WHEN status = 'spans_only' THEN coalesce(estimated, 0) END AS unmatched,
       CASE WHEN status = 'matched' AND price IS NOT NULL AND billed_tokens IS NULL
            THEN estimated - billed END AS unexplained
FROM p
