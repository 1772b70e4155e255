-- Week-over-week lines for anomaly detection. Grain: team · project · feature · model, with
-- the prior window [$prior_start, $prior_end) and the current window [$current_start,
-- $current_end) side by side (UTC days, half-open). Units: requests and output tokens
-- (reasoning included) from usage_daily, sources summed; cost = estimated USD
-- DECIMAL(38,12) from the temp table usage_lines (tokens × contracted price in force that
-- day, built by reconcile/10_price_keys + 20_usage_lines for [$prior_start, $current_end)).
-- Tokens on unpriced models count in tokens and unpriced_tokens, never as cost 0 silently.
WITH vol AS (
    SELECT team, project, feature, model,
           sum(requests)      FILTER (WHERE day >= $prior_start AND day < $prior_end)     AS prior_requests,
           sum(requests)      FILTER (WHERE day >= $current_start AND day < $current_end) AS current_requests,
           sum(output_tokens) FILTER (WHERE day >= $prior_start AND day < $prior_end)     AS prior_output_tokens,
           sum(output_tokens) FILTER (WHERE day >= $current_start AND day < $current_end) AS current_output_tokens
    FROM usage_daily
    WHERE (day >= $prior_start AND day < $prior_end) OR (day >= $current_start AND day < $current_end)
    GROUP BY ALL
),
cost AS (
    SELECT team, project, feature, model,
           sum(estimated)       FILTER (WHERE day >= $prior_start AND day < $prior_end)     AS prior_cost,
           sum(estimated)       FILTER (WHERE day >= $current_start AND day < $current_end) AS current_cost,
           sum(unpriced_tokens) FILTER (WHERE day >= $prior_start AND day < $prior_end)     AS prior_unpriced_tokens,
           sum(unpriced_tokens) FILTER (WHERE day >= $current_start AND day < $current_end) AS current_unpriced_tokens
    FROM usage_lines
    GROUP BY ALL
)
SELECT v.team, v.project, v.feature, v.model,
       CAST(coalesce(v.prior_requests, 0) AS BIGINT)          AS prior_requests,
       CAST(coalesce(v.current_requests, 0) AS BIGINT)        AS current_requests,
       CAST(coalesce(v.prior_output_tokens, 0) AS BIGINT)     AS prior_output_tokens,
       CAST(coalesce(v.current_output_tokens, 0) AS BIGINT)   AS current_output_tokens,
       CAST(coalesce(c.prior_cost, 0) AS DECIMAL(38,12))      AS prior_cost,
       CAST(coalesce(c.current_cost, 0) AS DECIMAL(38,12))    AS current_cost,
       CAST(coalesce(c.prior_unpriced_tokens, 0) AS BIGINT)   AS prior_unpriced_tokens,
       CAST(coalesce(c.current_unpriced_tokens, 0) AS BIGINT) AS current_unpriced_tokens
FROM vol v
LEFT JOIN cost c USING (team, project, feature, model)
ORDER BY v.team, v.project, v.feature, v.model
