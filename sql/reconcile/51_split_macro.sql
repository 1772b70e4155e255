-- split_billed(p_credits): each billed line of match_lines split over its alloc_weights rows,
-- charges (p_credits = false) or credits (true). Grain of the result: line · team · project ·
-- feature. Units: allocated USD DECIMAL(18,6), exact per line: |B| in micro-dollars is split by
-- largest remainder (floor of |B| × w / Σw, the leftover micro-dollars to the largest
-- remainders, ties by weight then team · project · feature), so a line's rows add up to its B.
-- A line whose weights are all 0 (no cost, no tokens) falls back to equal weights.
-- Lines are numbered (line_id) so the per-line sums and ranking partition by one integer,
-- not by the six columns of the line. A table macro, defined here because it reads the temp
-- tables of this run.
CREATE OR REPLACE TEMP MACRO split_billed(p_credits) AS TABLE
WITH lines AS (
    SELECT row_number() OVER () AS line_id, day, provider, account, model, service_tier, token_type,
           CAST(abs(billed) * 1000000 AS HUGEINT) AS b_micro,
           CASE WHEN billed < 0 THEN -1 ELSE 1 END AS sgn
    FROM match_lines
    WHERE (token_type = 'credit') = p_credits
),
weighted AS (
    SELECT l.line_id, l.b_micro, l.sgn, w.day, w.provider, w.account, w.model, w.service_tier, w.token_type,
           w.team, w.project, w.feature, w.basis, CAST(w.w AS HUGEINT) AS w
    FROM alloc_weights w
    JOIN lines l USING (day, provider, account, model, service_tier, token_type)
),
totals AS (
    SELECT line_id, sum(w) AS w_sum, count(*) AS n FROM weighted GROUP BY line_id
),
floored AS (
    SELECT x.*, (x.b_micro * x.w1) // x.w_total AS base, (x.b_micro * x.w1) % x.w_total AS rem
    FROM (SELECT wt.*, CASE WHEN t.w_sum > 0 THEN wt.w ELSE 1 END AS w1,
                 CASE WHEN t.w_sum > 0 THEN t.w_sum ELSE t.n END AS w_total
          FROM weighted wt JOIN totals t USING (line_id)) x
),
ranked AS (
    SELECT *,
           b_micro - sum(base) OVER (PARTITION BY line_id) AS leftover,
           row_number() OVER (PARTITION BY line_id ORDER BY rem DESC, w1 DESC, team, project, feature) AS rk
    FROM floored
)
SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
       CAST(CAST(sgn * (base + CASE WHEN rk <= leftover THEN 1 ELSE 0 END) AS DECIMAL(38,0))
            * CAST(0.000001 AS DECIMAL(7,6)) AS DECIMAL(18,6)) AS allocated,
       basis
FROM ranked
