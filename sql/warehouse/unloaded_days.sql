-- Days of [$window_start, $window_end) that a configured source has never loaded: no
-- load_windows row of that source (any provider, usage or billing) covers the day.
-- Grain: source · day. $sources lists the configured source names. No money.
WITH days AS (
    SELECT CAST(d AS DATE) AS day
    FROM generate_series(CAST($window_start AS TIMESTAMP), CAST($window_end AS TIMESTAMP) - INTERVAL 1 DAY,
                         INTERVAL 1 DAY) AS t(d)
),
configured AS (
    SELECT unnest(CAST($sources AS VARCHAR[])) AS source
)
SELECT c.source, d.day
FROM configured c CROSS JOIN days d
WHERE NOT EXISTS (
    SELECT 1 FROM load_windows lw
    WHERE lw.source = c.source AND d.day >= lw.window_start AND d.day < lw.window_end
)
ORDER BY c.source, d.day
