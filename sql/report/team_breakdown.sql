-- Per team, the month split by project, by feature and by model. Grain: team · dimension ·
-- value. allocated/estimated in USD (exact, not yet rounded: display rounds).
SELECT team,
       CASE WHEN grouping(project) = 0 THEN 'project'
            WHEN grouping(feature) = 0 THEN 'feature' ELSE 'model' END AS dimension,
       coalesce(project, feature, provider || ' / ' || model) AS value,
       sum(allocated) AS billed,
       sum(estimated) AS estimated,
       sum(tokens)    AS tokens
FROM recon_alloc
WHERE month = $window_start
GROUP BY GROUPING SETS ((team, project), (team, feature), (team, provider, model))
ORDER BY team, dimension, billed DESC, value
