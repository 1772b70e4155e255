-- Estimated vs billed per line, with the drift named to its causes (README "How the numbers
-- are made"). Grain: day · provider · account · model · tier · token type, at match grain:
-- account is a named account, '' for the pool (billed accounts no span names, against spans
-- with no account), or the billed account of a line no span matched. Units: USD DECIMAL(38,12)
-- for estimates and parts, DECIMAL(18,6) as billed; tokens; requests.
-- A line is 'matched' when its cell (day · provider · account · model · tier) has both spans and
-- a bill, even if this token type is on one side only (its tokens on the other side are 0).
-- Where billed tokens T_b and the price p are known, with E the estimate and B the bill:
--   coverage    = T_b × p × (R_s − R_b) / R_b    span requests R_s vs requests billed R_b in the
--                                                cell (missing instrumentation, sampling not
--                                                weighted), where the bill counts requests; else
--                                                0. R_s is the sampling-weighted estimate (each
--                                                span counts 1 / its sampling probability)
--   volume      = (T_s − T_b) × p − coverage     token mix: the tokens per request differ
--   premium     = T_prem × p − B_prem            rows the bill marks with a surcharge (long
--                                                context, region, priority, fast) against the
--                                                table's rate; the whole rate part when their
--                                                tokens are not counted apart
--   rate        = T_b × p − B − premium          stale table, discounts, cache/batch rates
-- and otherwise: unpriced = −B (no price), unmatched = −B (bill, no spans) or +E (spans, no
-- bill), non_token = −B (a charge that is not tokens), credit = −B (B < 0), unexplained = E − B
-- (billed tokens unknown). The parts add up to E − B exactly on every line.
CREATE OR REPLACE TEMP TABLE lines AS
WITH est AS (
    SELECT day, provider, account, model, service_tier, token_type,
           sum(tokens) AS span_tokens, sum(unpriced_tokens) AS unpriced_tokens,
           sum(estimated) AS estimated, any_value(usd_per_mtok) AS usd_per_mtok
    FROM usage_lines
    GROUP BY ALL
),
est_cells AS (
    SELECT DISTINCT day, provider, account, model, service_tier FROM est
),
bill_cells AS (
    SELECT DISTINCT day, provider, account, model, service_tier
    FROM match_lines WHERE token_type NOT IN ('other', 'credit')
),
span_requests AS (
    -- requests are sampling-weighted estimates; span_seen the spans behind them
    SELECT day, provider, account, model, service_tier, sum(requests) AS span_requests,
           sum(coalesce(seen_requests, requests)) AS span_seen
    FROM usage_daily
    WHERE day >= $window_start AND day < $window_end
    GROUP BY ALL
),
billed_requests AS (
    -- a match cell's requests: Σ over its billed accounts, NULL if any of them has no count
    SELECT bm.day, bm.provider, bm.match_account AS account, bm.model, bm.service_tier,
           CASE WHEN bool_and(br.billed_requests IS NOT NULL) THEN sum(br.billed_requests) END
               AS billed_requests
    FROM (SELECT DISTINCT day, provider, account, match_account, model, service_tier
          FROM bill_match WHERE token_type NOT IN ('other', 'credit')) bm
    LEFT JOIN bill_requests br USING (day, provider, account, model, service_tier)
    GROUP BY ALL
),
j AS (
    SELECT coalesce(e.day, b.day) AS day, coalesce(e.provider, b.provider) AS provider,
           coalesce(e.account, b.account) AS account, coalesce(e.model, b.model) AS model,
           coalesce(e.service_tier, b.service_tier) AS service_tier,
           coalesce(e.token_type, b.token_type) AS token_type,
           e.span_tokens, e.unpriced_tokens, e.estimated, e.usd_per_mtok,
           b.billed, b.billed_tokens, b.matched_by, b.premium_billed, b.premium_tokens,
           b.premium_kinds
    FROM est e
    FULL OUTER JOIN match_lines b
      ON e.day = b.day AND e.provider = b.provider AND e.account = b.account
     AND e.model = b.model AND e.service_tier = b.service_tier AND e.token_type = b.token_type
),
p AS (
    -- the price of a billed-only line is still useful for the rate part when tokens are known
    SELECT j.* EXCLUDE (billed, billed_tokens),
           CASE WHEN j.billed IS NULL AND bc.day IS NOT NULL THEN CAST(0 AS DECIMAL(18,6))
                ELSE j.billed END AS billed,
           CASE WHEN j.billed IS NULL AND bc.day IS NOT NULL THEN 0
                ELSE j.billed_tokens END AS billed_tokens,
           CASE WHEN j.token_type = 'other' THEN 'non_token'
                WHEN j.token_type = 'credit' THEN 'credit'
                WHEN ec.day IS NOT NULL AND bc.day IS NOT NULL THEN 'matched'
                WHEN ec.day IS NULL THEN 'billed_only'
                ELSE 'spans_only' END AS status,
           coalesce(j.usd_per_mtok, pk.usd_per_mtok) AS price,
           sr.span_requests, sr.span_seen, br.billed_requests
    FROM j
    LEFT JOIN est_cells ec USING (day, provider, account, model, service_tier)
    LEFT JOIN bill_cells bc USING (day, provider, account, model, service_tier)
    LEFT JOIN price_keys pk USING (day, provider, model, service_tier, token_type)
    LEFT JOIN span_requests sr USING (day, provider, account, model, service_tier)
    LEFT JOIN billed_requests br USING (day, provider, account, model, service_tier)
),
q AS (
    SELECT p.*,
           CASE WHEN status = 'matched' AND price IS NOT NULL AND billed_tokens IS NOT NULL
                THEN (coalesce(span_tokens, 0) - billed_tokens) * (price * CAST(0.000001 AS DECIMAL(7,6)))
           END AS volume_all,
           CASE WHEN status = 'matched' AND price IS NOT NULL AND billed_tokens IS NOT NULL
                THEN billed_tokens * (price * CAST(0.000001 AS DECIMAL(7,6))) - billed END AS rate_all
    FROM p
),
r AS (
    SELECT q.*,
           CASE WHEN volume_all IS NOT NULL AND billed_requests > 0 AND span_requests IS NOT NULL
                THEN CAST(round(CAST(billed_tokens * (price * CAST(0.000001 AS DECIMAL(7,6))) AS DOUBLE)
                                * (span_requests - billed_requests) / billed_requests, 12) AS DECIMAL(38,12))
           END AS coverage,
           CASE WHEN rate_all IS NOT NULL AND premium_billed IS NOT NULL
                THEN coalesce(premium_tokens * (price * CAST(0.000001 AS DECIMAL(7,6))) - premium_billed,
                              rate_all) END AS premium
    FROM q
)
SELECT day, provider, account, model, service_tier, token_type, status, matched_by,
       span_tokens, unpriced_tokens, estimated, price AS usd_per_mtok, billed, billed_tokens,
       span_requests, span_seen, billed_requests, premium_kinds,
       CAST(volume_all - coalesce(coverage, 0) AS DECIMAL(38,12)) AS volume,
       coverage,
       CAST(rate_all - coalesce(premium, 0) AS DECIMAL(38,12)) AS rate,
       CAST(premium AS DECIMAL(38,12)) AS premium,
       CASE WHEN status = 'matched' AND price IS NULL THEN CAST(-billed AS DECIMAL(38,12)) END AS unpriced,
       CASE WHEN status = 'billed_only' THEN CAST(-billed AS DECIMAL(38,12))
            WHEN status = 'spans_only' THEN coalesce(estimated, 0) END AS unmatched,
       CASE WHEN status = 'non_token' THEN CAST(-billed AS DECIMAL(38,12)) END AS non_token,
       CASE WHEN status = 'credit' THEN CAST(-billed AS DECIMAL(38,12)) END AS credit,
       CASE WHEN status = 'matched' AND price IS NOT NULL AND billed_tokens IS NULL
            THEN coalesce(estimated, 0) - billed END AS unexplained
FROM r
