-- Where the month's 'unattributed' money came from. Grain: reason · provider · account · model.
-- Units: USD exact (DECIMAL(38,6)). Reasons:
--   no_spans  billed money no span matched at either level and no [teams.X] accounts rule names
--             (recon_alloc basis 'unattributed': whole lines, and the unruled keys' share of a
--             line a key rule split), or the part of a 'tag' line no tag or resource rule names
--             (basis 'untagged'): the rule that would assign them is shown beside them;
--   no_team   billed money split onto spans that carry no team.id (account '' = spans with no
--             account attribute): set team.id on those services;
--   credit    the unattributed share of the provider's credits.
SELECT 'no_spans' AS reason, provider, account, model, sum(allocated) AS amount
FROM recon_alloc
WHERE month = $window_start AND basis = 'unattributed'
GROUP BY ALL
UNION ALL
SELECT CASE WHEN basis = 'credit' THEN 'credit' WHEN basis = 'untagged' THEN 'no_spans'
            ELSE 'no_team' END, provider, account, model, sum(allocated)
FROM recon_alloc
WHERE month = $window_start AND team = 'unattributed' AND basis <> 'unattributed'
GROUP BY ALL
HAVING sum(allocated) <> 0
ORDER BY amount DESC, reason, provider, account, model
