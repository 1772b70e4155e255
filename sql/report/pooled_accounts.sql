-- Billed accounts no span names, matched without account (with the spans that carry none), per
-- provider · account. Units: USD as billed (DECIMAL(38,6)); models as billed.
SELECT provider, account, sum(billed) AS billed, list(DISTINCT model ORDER BY model) AS models
FROM recon_bill_match
WHERE month = $window_start AND matched_by = 'pool'
GROUP BY provider, account
ORDER BY billed DESC, provider, account
