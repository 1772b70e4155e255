-- Persist the month's reconciliation lines (grain and units as recon_lines).
INSERT INTO recon_lines
SELECT $window_start AS month, day, provider, account, model, service_tier, token_type, status,
       span_tokens, unpriced_tokens, estimated, usd_per_mtok, billed, billed_tokens,
       volume, rate, unpriced, unmatched, unexplained, day >= $provisional_from
FROM lines
