-- Month-to-date spend per team for budgets. Grain: team. Reads recon_alloc of the month
-- starting $month_start (run reconcile for that month first), days [$month_start, $spend_end).
-- Units: USD. A day · provider is *billed* when it is settled (not provisional) and a billing
-- load covers it (load_windows): its money is the allocated invoice money. Otherwise, on a
-- provisional day or a settled day whose billing is missing, the span estimate (tokens ×
-- contracted price) stands in. settled_through / provisional_from / unbilled_days say which.
WITH covered AS (
    SELECT DISTINCT a.day, a.provider
    FROM (SELECT DISTINCT day, provider FROM recon_alloc
          WHERE month = $month_start AND day >= $month_start AND day < $spend_end) a
    JOIN load_windows lw
      ON lw.kind = 'billing' AND lw.provider = a.provider
     AND a.day >= lw.window_start AND a.day < lw.window_end
),
rows AS (
    SELECT r.team, r.day, r.provider, r.provisional, r.allocated, r.estimated,
           (NOT r.provisional AND c.day IS NOT NULL) AS billed_day
    FROM recon_alloc r
    LEFT JOIN covered c ON c.day = r.day AND c.provider = r.provider
    WHERE r.month = $month_start AND r.day >= $month_start AND r.day < $spend_end
)
SELECT team,
       CAST(coalesce(sum(allocated) FILTER (WHERE billed_day), 0) AS DECIMAL(38,12))    AS billed,
       CAST(coalesce(sum(estimated) FILTER (WHERE NOT billed_day), 0) AS DECIMAL(38,12)) AS estimated,
       max(day) FILTER (WHERE billed_day)                                               AS settled_through,
       min(day) FILTER (WHERE provisional)                                              AS provisional_from,
       count(DISTINCT day) FILTER (WHERE NOT provisional AND NOT billed_day)            AS unbilled_days
FROM rows
GROUP BY team
ORDER BY team
