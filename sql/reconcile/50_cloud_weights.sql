-- Allocation weights that what a FOCUS bill says of its charges decides (32_bill_charges.sql),
-- replacing 50_alloc_weights.sql's rows for their lines (50_use_cloud_weights.sql). Grain as
-- alloc_weights: line (day · provider · account · model · tier · token type, match grain) ·
-- team · project · feature. Units: w an integer weight; basis:
--   tag / resource  a 'tag' line (35_bill_match.sql): each owned charge's team, weighted by its
--                   money in micro-dollars (so the split is the charges' money exactly); the
--                   rest of the line to the account rule's team ('rule') or 'unattributed'
--                   (basis 'untagged'); project and feature 'unknown';
--   capacity        provisioned capacity (Bedrock Provisioned Throughput, Azure PTU, Vertex
--                   Provisioned Throughput) on an account or pool line: each capacity charge
--                   split over the teams whose spans used the model it serves that day (same
--                   provider and match account), by their share of its tokens (all types);
--   capacity_day    ... the bill names no model it serves (an Azure PTU's ResourceId is the
--                   whole resource), or no span used that model that day: by the share of all
--                   the day's tokens of the provider and match account.
-- A line whose charges serve several models: Σ over its charges of micro-dollars × 10^6 × the
-- team's token share (floored), so each charge is split by its own shares.
CREATE OR REPLACE TEMP TABLE cloud_weights AS
WITH owned AS (
    SELECT day, provider, account, model, service_tier, token_type, owner_team AS team,
           min(owner_rule) AS basis, sum(amount) AS amount
    FROM bill_charges WHERE owner_team IS NOT NULL
    GROUP BY ALL
),
tag_lines AS (
    SELECT l.day, l.provider, l.account, l.model, l.service_tier, l.token_type, l.billed,
           l.rule_team, coalesce(sum(o.amount), 0) AS owned
    FROM match_lines l
    LEFT JOIN owned o USING (day, provider, account, model, service_tier, token_type)
    WHERE l.matched_by = 'tag'
    GROUP BY ALL
),
tag_rows AS (
    SELECT o.day, o.provider, o.account, o.model, o.service_tier, o.token_type, o.team,
           CAST(greatest(o.amount, 0) * 1000000 AS HUGEINT) AS w, o.basis
    FROM owned o
    JOIN tag_lines USING (day, provider, account, model, service_tier, token_type)
    UNION ALL
    SELECT day, provider, account, model, service_tier, token_type,
           coalesce(rule_team, 'unattributed'),
           CAST(greatest(billed - owned, 0) * 1000000 AS HUGEINT),
           CASE WHEN rule_team IS NULL THEN 'untagged' ELSE 'rule' END
    FROM tag_lines WHERE billed <> owned
),
cap_charges AS (
    SELECT bm.day, bm.provider, bm.match_account AS account, bm.model, bm.service_tier,
           bm.token_type, bc.capacity, bc.served_model, bc.amount
    FROM bill_match bm
    JOIN bill_charges bc USING (day, provider, account, model, service_tier, token_type)
    WHERE bm.matched_by IN ('account', 'pool') AND bm.token_type = 'other'
),
groups AS (
    -- the capacity lines' charges by the model they serve ('' = any model)
    SELECT day, provider, account, model, service_tier, token_type, served_model,
           sum(amount) AS amount
    FROM cap_charges
    SEMI JOIN (SELECT * FROM cap_charges WHERE capacity = 'provisioned') p
        USING (day, provider, account, model, service_tier, token_type)
    GROUP BY ALL
),
cap_usage AS (
    -- only the spans of a capacity line's day and account: nothing to sum when there is none
    SELECT * FROM usage_lines
    SEMI JOIN (SELECT DISTINCT day, provider, account FROM groups) USING (day, provider, account)
),
model_use AS (
    SELECT day, provider, account, model, team, project, feature, sum(tokens) AS tokens
    FROM cap_usage GROUP BY ALL
),
day_use AS (
    SELECT day, provider, account, team, project, feature, sum(tokens) AS tokens
    FROM cap_usage GROUP BY ALL
),
model_tot AS (
    SELECT day, provider, account, model, sum(tokens) AS tokens
    FROM cap_usage GROUP BY ALL HAVING sum(tokens) > 0
),
day_tot AS (
    SELECT day, provider, account, sum(tokens) AS tokens
    FROM cap_usage GROUP BY ALL HAVING sum(tokens) > 0
),
scoped AS (
    SELECT g.*, mt.tokens IS NOT NULL AS by_model, coalesce(mt.tokens, dt.tokens) AS total
    FROM groups g
    LEFT JOIN model_tot mt
      ON g.served_model <> '' AND mt.day = g.day AND mt.provider = g.provider
     AND mt.account = g.account AND mt.model = g.served_model
    LEFT JOIN day_tot dt ON dt.day = g.day AND dt.provider = g.provider AND dt.account = g.account
    WHERE coalesce(mt.tokens, dt.tokens) IS NOT NULL
),
cap_rows AS (
    SELECT s.day, s.provider, s.account, s.model, s.service_tier, s.token_type,
           u.team, u.project, u.feature,
           CAST(greatest(s.amount, 0) * 1000000 AS HUGEINT) * 1000000 * u.tokens // s.total AS w,
           'capacity' AS basis
    FROM scoped s
    JOIN model_use u
      ON s.by_model AND u.day = s.day AND u.provider = s.provider AND u.account = s.account
     AND u.model = s.served_model
    UNION ALL
    SELECT s.day, s.provider, s.account, s.model, s.service_tier, s.token_type,
           u.team, u.project, u.feature,
           CAST(greatest(s.amount, 0) * 1000000 AS HUGEINT) * 1000000 * u.tokens // s.total,
           'capacity_day'
    FROM scoped s
    JOIN day_use u
      ON NOT s.by_model AND u.day = s.day AND u.provider = s.provider AND u.account = s.account
)
SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
       sum(w) AS w, min(basis) AS basis
FROM (SELECT day, provider, account, model, service_tier, token_type, team,
             'unknown' AS project, 'unknown' AS feature, w, basis FROM tag_rows
      UNION ALL
      SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
             w, basis FROM cap_rows)
GROUP BY day, provider, account, model, service_tier, token_type, team, project, feature
