-- Month-to-date spend per team for budgets. Grain: team. Reads recon_alloc of the month
-- starting $month_start (run reconcile for that month first), days [$month_start, $spend_end).
-- Units: USD. A day · provider is *billed* when it is settled (not provisional) and a billing
-- load covers it (load_windows): its money is the allocated invoice money. Otherwise, on a
-- provisional day or a settled day whose billing is missing, the span estimate (tokens ×
-- contracted price) stands in. settled_through / provisional_from / unbilled_days say which.
-- billed is in cents, rounded as the chargeback is (sql/reconcile/70_store_team_provider.sql):
-- per provider, each team's exact billed money floored to the cent, the leftover cents of the
-- provider's total (rounded half away from zero) to the largest remainders. On a settled month
-- a team's billed spend is therefore its chargeback to the cent.
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
),
tp AS (
    SELECT provider, team,
           CAST(coalesce(sum(allocated) FILTER (WHERE billed_day), 0) AS DECIMAL(38,6)) AS exact
    FROM rows GROUP BY ALL
),
targets AS (
    SELECT provider, CAST(round(sum(exact), 2) * 100 AS HUGEINT) AS target_cents
    FROM tp GROUP BY provider
),
floored AS (
    SELECT tp.*, CAST(floor(exact * 100) AS HUGEINT) AS base, exact * 100 - floor(exact * 100) AS rem
    FROM tp
),
ranked AS (
    SELECT f.*, t.target_cents - sum(f.base) OVER (PARTITION BY f.provider) AS leftover,
           row_number() OVER (PARTITION BY f.provider ORDER BY f.rem DESC, f.exact DESC, f.team) AS rk
    FROM floored f JOIN targets t USING (provider)
),
billed_cents AS (
    SELECT team,
           CAST(CAST(sum(base + CASE WHEN rk <= leftover THEN 1 ELSE 0 END) AS DECIMAL(38,0))
                * CAST(0.01 AS DECIMAL(3,2)) AS DECIMAL(38,12)) AS billed
    FROM ranked GROUP BY team
)
SELECT r.team,
       any_value(b.billed)                                                                AS billed,
       CAST(coalesce(sum(r.estimated) FILTER (WHERE NOT r.billed_day), 0) AS DECIMAL(38,12)) AS estimated,
       max(r.day) FILTER (WHERE r.billed_day)                                              AS settled_through,
       min(r.day) FILTER (WHERE r.provisional)                                             AS provisional_from,
       count(DISTINCT r.day) FILTER (WHERE NOT r.provisional AND NOT r.billed_day)         AS unbilled_days
FROM rows r
JOIN billed_cents b USING (team)
GROUP BY r.team
ORDER BY r.team
