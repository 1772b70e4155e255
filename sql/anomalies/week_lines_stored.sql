-- Week-over-week lines for anomaly detection, as sql/anomalies/week_lines.sql (same grain,
-- units and columns), with cost read from the stored results (recon_alloc.estimated: the same
-- tokens × contracted price, stored by reconciliation) of the months $month_start and
-- $previous_start instead of re-pricing the spans. Only when those months' stored results are
-- current and they hold every loaded day of [$prior_start, $current_end) (finops.api.month).
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
    FROM recon_alloc
    WHERE month IN ($month_start, $previous_start)
      AND ((day >= $prior_start AND day < $prior_end) OR (day >= $current_start AND day < $current_end))
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
