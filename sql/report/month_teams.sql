-- Each team's chargeback of the month before (in cents, as its own report shows it) and its
-- billed money up to the same day of the month ($previous_cut, exclusive; exact USD, rounded
-- half away from zero where shown). Grain: team.
WITH charged AS (
    SELECT team, sum(allocated) AS billed
    FROM recon_team_provider WHERE month = $previous_start
    GROUP BY team
),
to_date AS (
    SELECT team, sum(allocated) AS billed_to_date
    FROM recon_alloc WHERE month = $previous_start AND day < $previous_cut
    GROUP BY team
)
SELECT team, coalesce(c.billed, 0) AS billed, coalesce(d.billed_to_date, 0) AS billed_to_date
FROM charged c FULL OUTER JOIN to_date d USING (team)
ORDER BY billed DESC, team
