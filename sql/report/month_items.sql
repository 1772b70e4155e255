-- Month over month: billed money and the span tokens it was split over, per team and item
-- (provider · model · token type), for this month (days before $current_cut) and the month before
-- (days before $previous_cut: the same day of the month while this one is open). Grain: period ·
-- team · provider · model · token type. Units: tokens; billed USD exact (DECIMAL(38,6), allocated
-- money before the chargeback's rounding to cents). Rows of spans with no bill ('unbilled') carry
-- no money and are left out: their tokens are not what the bill was split over.
SELECT 'current' AS period, team, provider, model, token_type,
       sum(tokens)::BIGINT AS tokens, sum(allocated) AS billed
FROM recon_alloc
WHERE month = $window_start AND day < $current_cut AND basis <> 'unbilled'
GROUP BY ALL
UNION ALL
SELECT 'previous', team, provider, model, token_type, sum(tokens)::BIGINT, sum(allocated)
FROM recon_alloc
WHERE month = $previous_start AND day < $previous_cut AND basis <> 'unbilled'
GROUP BY ALL
ORDER BY period, team, provider, model, token_type
