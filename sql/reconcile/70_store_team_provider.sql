-- Team chargeback per provider, in cents. Grain: provider · team for the month.
-- Largest remainder: floor each team's exact amount to the cent, then hand the leftover
-- cents (provider total rounded half away from zero, minus the floors) to the largest
-- remainders, so Σ teams = the provider's billed total to the cent.
INSERT INTO recon_team_provider
WITH tp AS (
    SELECT provider, team, CAST(sum(allocated) AS DECIMAL(38,6)) AS exact,
           sum(estimated) AS estimated
    FROM recon_alloc WHERE month = $window_start
    GROUP BY ALL
),
targets AS (
    SELECT provider, CAST(round(sum(exact), 2) * 100 AS HUGEINT) AS target_cents
    FROM tp GROUP BY provider
),
floored AS (
    SELECT tp.*, CAST(floor(exact * 100) AS HUGEINT) AS base,
           exact * 100 - floor(exact * 100) AS rem
    FROM tp
),
ranked AS (
    SELECT f.*, t.target_cents - sum(f.base) OVER (PARTITION BY f.provider) AS leftover,
           row_number() OVER (PARTITION BY f.provider ORDER BY f.rem DESC, f.exact DESC, f.team) AS rk
    FROM floored f JOIN targets t USING (provider)
)
SELECT $window_start, provider, team, exact,
       CAST(CAST(base + CASE WHEN rk <= leftover THEN 1 ELSE 0 END AS DECIMAL(38,0)) * CAST(0.01 AS DECIMAL(3,2))
            AS DECIMAL(18,2)),
       estimated
FROM ranked
