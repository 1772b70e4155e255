-- Unit costs on billed money: per period (this month, the month before) · team · feature · week of
-- the month (0 = days 1–7, 1 = 8–14, ..., 4 = 29 to the end), the billed (allocated) money and the
-- work it paid for: requests and output tokens as the spans count them, on days whose billing is
-- loaded for the provider (a day not billed yet carries no money, so its requests are left out too).
-- Units: USD exact (DECIMAL(38,6)); requests; output tokens (reasoning included).
WITH billed AS (
    SELECT CASE WHEN month = $window_start THEN 'current' ELSE 'previous' END AS period,
           team, feature, (day - month) // 7 AS week, sum(allocated) AS billed
    FROM recon_alloc
    WHERE month IN ($window_start, $previous_start)
    GROUP BY ALL
),
covered AS (
    SELECT DISTINCT u.day, u.provider
    FROM usage_daily u
    JOIN load_windows lw
      ON lw.kind = 'billing' AND lw.provider = u.provider
     AND u.day >= lw.window_start AND u.day < lw.window_end
    WHERE (u.day >= $window_start AND u.day < $window_end)
       OR (u.day >= $previous_start AND u.day < $window_start)
),
work AS (
    SELECT CASE WHEN u.day >= $window_start THEN 'current' ELSE 'previous' END AS period,
           u.team, u.feature,
           (u.day - CASE WHEN u.day >= $window_start THEN $window_start ELSE $previous_start END) // 7 AS week,
           sum(u.requests)::BIGINT AS requests, sum(u.output_tokens)::BIGINT AS output_tokens
    FROM usage_daily u
    JOIN covered c ON c.day = u.day AND c.provider = u.provider
    GROUP BY ALL
)
SELECT period, team, feature, week,
       coalesce(b.billed, 0) AS billed,
       coalesce(w.requests, 0) AS requests, coalesce(w.output_tokens, 0) AS output_tokens
FROM billed b
FULL OUTER JOIN work w USING (period, team, feature, week)
ORDER BY period, team, feature, week
