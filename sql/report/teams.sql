-- Team chargeback for the month. Grain: team. allocated is in cents and adds up, per
-- provider, to the provider's billed total (largest remainder, recon_team_provider).
-- unpriced_tokens: the team's span tokens with no price (its estimate leaves them out).
WITH unpriced AS (
    SELECT team, sum(unpriced_tokens) AS unpriced_tokens
    FROM recon_alloc WHERE month = $window_start GROUP BY team
)
SELECT t.team,
       sum(t.allocated)  AS billed,
       sum(t.estimated)  AS estimated,
       list({'provider': t.provider, 'billed': t.allocated, 'estimated': t.estimated} ORDER BY t.provider) AS by_provider,
       coalesce(any_value(u.unpriced_tokens), 0) AS unpriced_tokens
FROM recon_team_provider t
LEFT JOIN unpriced u USING (team)
WHERE t.month = $window_start
GROUP BY t.team
ORDER BY billed DESC, t.team
