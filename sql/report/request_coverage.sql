-- Span requests vs requests billed, per provider, over the cells (day · provider · account · model ·
-- tier, at match grain) where the bill counts requests and the cell has spans. Units: requests.
-- span_requests are sampling-weighted estimates; span_seen the spans behind them (NULL-free:
-- lines stored before sampling weights count their requests as seen).
WITH cells AS (
    SELECT DISTINCT day, provider, account, model, service_tier, span_requests,
           coalesce(span_seen, span_requests) AS span_seen, billed_requests
    FROM recon_lines
    WHERE month = $window_start AND status = 'matched' AND billed_requests IS NOT NULL
      AND span_requests IS NOT NULL
)
SELECT provider, sum(span_requests) AS span_requests, sum(span_seen) AS span_seen,
       sum(billed_requests) AS billed_requests
FROM cells
GROUP BY provider
ORDER BY provider
