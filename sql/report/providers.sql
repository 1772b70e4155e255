-- Per provider for the month: billed (exact, DECIMAL(38,6)), estimated (USD, contracted
-- prices), and the drift explanation parts (sql/reconcile/40_lines.sql). Grain: provider.
SELECT provider,
       sum(coalesce(billed, 0))      AS billed,
       sum(coalesce(estimated, 0))   AS estimated,
       sum(coalesce(coverage, 0))    AS coverage,
       sum(coalesce(volume, 0))      AS volume,
       sum(coalesce(premium, 0))     AS premium,
       sum(coalesce(rate, 0))        AS rate,
       sum(coalesce(unpriced, 0))    AS unpriced,
       sum(coalesce(unmatched, 0))   AS unmatched,
       sum(coalesce(non_token, 0))   AS non_token,
       sum(coalesce(credit, 0))      AS credit,
       sum(coalesce(unexplained, 0)) AS unexplained,
       bool_or(provisional)          AS has_provisional
FROM recon_lines
WHERE month = $window_start
GROUP BY provider
ORDER BY billed DESC, provider
