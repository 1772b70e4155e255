-- Month-to-date spend per team for budgets. Grain: team. Reads recon_alloc of the month
-- starting $month_start (run reconcile for that month first), days [$month_start, $spend_end).
-- Units: USD. billed = allocated (invoiced) money on settled days; estimated = span estimate
-- (tokens × contracted price) on provisional days, which providers may still restate.
-- settled_through / provisional_from name the days each part covers.
SELECT team,
       CAST(coalesce(sum(allocated) FILTER (WHERE NOT provisional), 0) AS DECIMAL(38,12)) AS billed,
       CAST(coalesce(sum(estimated) FILTER (WHERE provisional), 0) AS DECIMAL(38,12))     AS estimated,
       max(day) FILTER (WHERE NOT provisional)                                           AS settled_through,
       min(day) FILTER (WHERE provisional)                                               AS provisional_from
FROM recon_alloc
WHERE month = $month_start AND day >= $month_start AND day < $spend_end
GROUP BY team
ORDER BY team
