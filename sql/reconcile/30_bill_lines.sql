-- Billed lines as the provider billed them: day · provider · account · model · tier · token
-- type, before matching. Units: USD DECIMAL(18,6) as billed; tokens.
-- cache_write_1h is compared as cache_write (spans do not split write TTLs): its rows are a
-- premium of kind cache_1h, their surcharge over the 5-minute price is named. A charge that is not tokens keeps type 'other'; a
-- row with a negative amount (a credit, a refund) becomes type 'credit'. Both are named by
-- their line item, which takes the model's place: never a blank model.
-- billed_tokens is NULL when any contributing row lacks a token count. premium_billed /
-- premium_tokens: the part of the line on rows the bill marks with a surcharge (long context,
-- region, priority, fast, cache_1h; premium_tokens NULL when such a row lacks a count); premium_kinds
-- names the kinds.
CREATE OR REPLACE TEMP TABLE bill_lines AS
WITH r AS (
    SELECT day, provider, account, service_tier, amount, billed_tokens,
           CASE WHEN token_type = 'cache_write_1h' THEN concat_ws(',', premium, 'cache_1h')
                ELSE premium END AS premium,
           CASE WHEN amount < 0 THEN 'credit'
                WHEN token_type = 'cache_write_1h' THEN 'cache_write'
                ELSE token_type END AS token_type,
           CASE WHEN amount < 0 OR token_type = 'other'
                THEN coalesce(nullif(line_item, ''), nullif(model, ''), '(no line item)')
                ELSE model END AS model
    FROM billing_daily
    WHERE day >= $window_start AND day < $window_end
),
kinds AS (  -- the few rows with a surcharge: a DISTINCT ... ORDER BY aggregate over them only
    SELECT day, provider, account, model, service_tier, token_type,
           string_agg(DISTINCT premium, ',' ORDER BY premium) AS premium_kinds
    FROM r WHERE premium IS NOT NULL
    GROUP BY day, provider, account, model, service_tier, token_type
),
lines AS (
    SELECT day, provider, account, model, service_tier, token_type,
           sum(amount) AS billed,
           CASE WHEN token_type NOT IN ('other', 'credit') AND bool_and(billed_tokens IS NOT NULL)
                THEN sum(billed_tokens) END AS billed_tokens,
           sum(amount) FILTER (WHERE premium IS NOT NULL) AS premium_billed,
           CASE WHEN bool_and(billed_tokens IS NOT NULL) FILTER (WHERE premium IS NOT NULL)
                THEN sum(billed_tokens) FILTER (WHERE premium IS NOT NULL) END AS premium_tokens
    FROM r
    GROUP BY day, provider, account, model, service_tier, token_type
)
SELECT l.*, k.premium_kinds
FROM lines l
LEFT JOIN kinds k USING (day, provider, account, model, service_tier, token_type)
