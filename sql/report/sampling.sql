-- What the month's usage loads say about sampling, for the report's notes. Grain: source ·
-- sampling text ("weighted: <rules>" or "not seen: <why>", load_windows.sampling) over the
-- loads that overlap the month; windows = how many loaded windows say it. Units: none.
SELECT source, sampling, count(DISTINCT (window_start, window_end)) AS windows
FROM load_windows
WHERE kind = 'usage' AND sampling IS NOT NULL
  AND window_start < $window_end AND window_end > $window_start
GROUP BY ALL
ORDER BY source, sampling
