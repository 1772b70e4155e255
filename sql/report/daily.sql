-- Daily trend per team and for the org. Grain: day · team. USD exact.
SELECT day, team, sum(allocated) AS billed, sum(estimated) AS estimated, bool_or(provisional) AS provisional
FROM recon_alloc
WHERE month = $window_start
GROUP BY day, team
ORDER BY day, team
