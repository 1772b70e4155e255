-- Billed money per cell line: day · provider · account · model · tier · compare type.
-- cache_write_1h is compared as cache_write (spans do not split write TTLs): its premium
-- over the 5-minute price shows up in the rate part. Non-token charges keep type 'other'.
-- billed_tokens is NULL when any contributing row lacks a token count.
CREATE OR REPLACE TEMP TABLE bill_lines AS
SELECT day, provider, account, model, service_tier,
       CASE token_type WHEN 'cache_write_1h' THEN 'cache_write' ELSE token_type END AS token_type,
       sum(amount) AS billed,
       CASE WHEN bool_and(billed_tokens IS NOT NULL) THEN sum(billed_tokens) END AS billed_tokens
FROM billing_daily
WHERE day >= $window_start AND day < $window_end
GROUP BY ALL
