-- How the month's billed money reached teams. Grain: basis (cost, tokens, cell_cost,
-- cell_tokens = by span estimates; rule = account rule; unattributed). USD exact.
SELECT basis, sum(allocated) AS billed
FROM recon_alloc
WHERE month = $window_start AND basis <> 'unbilled'
GROUP BY basis
ORDER BY billed DESC
