-- Credits (negative billed rows: credit grants, refunds) are spread pro rata over the positive
-- allocation of the same provider and month: each team · project · feature's share of the
-- provider's charges is its share of the provider's credits (README "Credits"). A provider with
-- credits and no charges gives them to 'unattributed'. Grain: credit line · team · project ·
-- feature. Units: w = allocated micro-dollars of the charges.
INSERT INTO alloc_weights
WITH credits AS (
    SELECT * FROM match_lines WHERE token_type = 'credit'
),
positive AS (
    SELECT provider, team, project, feature, CAST(sum(allocated) * 1000000 AS HUGEINT) AS w
    FROM alloc
    GROUP BY ALL
    HAVING sum(allocated) > 0
)
SELECT c.day, c.provider, c.account, c.model, c.service_tier, c.token_type,
       p.team, p.project, p.feature, p.w, 'credit'
FROM credits c
JOIN positive p USING (provider)
UNION ALL
SELECT c.day, c.provider, c.account, c.model, c.service_tier, c.token_type,
       'unattributed', 'unknown', 'unknown', 1, 'credit'
FROM credits c
WHERE NOT EXISTS (SELECT 1 FROM positive p WHERE p.provider = c.provider)
