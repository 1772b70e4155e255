-- Persist the month's reconciliation lines (grain and units as recon_lines).
INSERT INTO recon_lines BY NAME
SELECT $window_start AS month, day, provider, account, model, service_tier, token_type, status,
       matched_by, span_tokens, unpriced_tokens, estimated, usd_per_mtok, billed, billed_tokens,
       span_requests, span_seen, billed_requests, premium_kinds,
       volume, coverage, premium, rate, unpriced, unmatched, non_token, credit, unexplained,
       day >= $provisional_from AS provisional
FROM lines
