-- split_billed(p_credits): each billed line of match_lines split over its alloc_weights rows,
-- charges (p_credits = false) or credits (true). Grain of the result: line · team · project ·
-- feature. Units: allocated USD DECIMAL(18,6), exact per line: |B| in micro-dollars is split by
-- largest remainder (floor of |B| × w / Σw, the leftover micro-dollars to the largest
-- remainders, ties by weight then team · project · feature), so a line's rows add up to its B.
-- A line whose weights are all 0 (no cost, no tokens) falls back to equal weights.
-- A table macro, defined here because it reads the temp tables of this run.
CREATE OR REPLACE TEMP MACRO split_billed(p_credits) AS TABLE
WITH weighted AS (
    SELECT w.day, w.provider, w.account, w.model, w.service_tier, w.token_type,
           w.team, w.project, w.feature, w.basis, CAST(w.w AS HUGEINT) AS w, ml.billed
    FROM alloc_weights w
    JOIN match_lines ml USING (day, provider, account, model, service_tier, token_type)
    WHERE (w.token_type = 'credit') = p_credits
),
shares AS (
    SELECT * EXCLUDE (w),
           CASE WHEN sum(w) OVER line > 0 THEN w ELSE 1 END AS w,
           CAST(abs(billed) * 1000000 AS HUGEINT) AS b_micro,
           CASE WHEN billed < 0 THEN -1 ELSE 1 END AS sgn
    FROM weighted
    WINDOW line AS (PARTITION BY day, provider, account, model, service_tier, token_type)
),
floored AS (
    SELECT *,
           sum(w) OVER line AS w_total,
           (b_micro * w) // sum(w) OVER line AS base,
           (b_micro * w) % sum(w) OVER line AS rem
    FROM shares
    WINDOW line AS (PARTITION BY day, provider, account, model, service_tier, token_type)
),
ranked AS (
    SELECT *,
           b_micro - sum(base) OVER line AS leftover,
           row_number() OVER (PARTITION BY day, provider, account, model, service_tier, token_type
                              ORDER BY rem DESC, w DESC, team, project, feature) AS rk
    FROM floored
    WINDOW line AS (PARTITION BY day, provider, account, model, service_tier, token_type)
)
SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
       CAST(CAST(sgn * (base + CASE WHEN rk <= leftover THEN 1 ELSE 0 END) AS DECIMAL(38,0))
            * CAST(0.000001 AS DECIMAL(7,6)) AS DECIMAL(18,6)) AS allocated,
       basis
FROM ranked
