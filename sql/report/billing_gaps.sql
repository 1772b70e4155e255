-- Days with span usage for a provider but no billing load covering that provider and day:
-- the gate fails closed on these. Grain: provider · day.
WITH usage_days AS (
    SELECT DISTINCT day, provider FROM usage_daily
    WHERE day >= $window_start AND day < $window_end
),
covered AS (
    SELECT DISTINCT u.day, u.provider
    FROM usage_days u
    JOIN load_windows lw
      ON lw.kind = 'billing' AND lw.provider = u.provider
     AND u.day >= lw.window_start AND u.day < lw.window_end
)
SELECT u.provider, u.day
FROM usage_days u
ANTI JOIN covered c ON c.day = u.day AND c.provider = u.provider
ORDER BY u.provider, u.day
