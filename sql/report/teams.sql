-- Team chargeback for the month. Grain: team. allocated is in cents and adds up, per
-- provider, to the provider's billed total (largest remainder, recon_team_provider).
SELECT team,
       sum(allocated)  AS billed,
       sum(estimated)  AS estimated,
       list({'provider': provider, 'billed': allocated, 'estimated': estimated} ORDER BY provider) AS by_provider
FROM recon_team_provider
WHERE month = $window_start
GROUP BY team
ORDER BY billed DESC, team
