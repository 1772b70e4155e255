-- The matching hierarchy (README "How the numbers are made"). Grain: one row per billed line
-- (bill_lines: day · provider · account · model · tier · token type). Units: USD as billed.
-- A span carries an account only when instrumentation sets the attribute (account = '' when
-- not); billing always names one. Per cell (day · provider · model · tier; for a non-token
-- charge, day · provider), a billed line is matched by the first level that applies:
--   account       the cell has spans naming the line's account: those spans, at account grain;
--   pool          no span names it there, but the cell has spans with no account: billed
--                 accounts no span names are pooled and matched with those spans, without
--                 account (match_account = '');
--   key_rule      neither, and a [teams.X] accounts rule names an API key whose billed tokens
--                 are in the line (billing_key_tokens): split over the line's keys by their
--                 billed tokens, each ruled key's share to its team, the rest to the account's
--                 rule team, else unattributed (50_alloc_weights.sql);
--   tag           none of these, and a [teams.X] resources or tags rule names the resource or tags
--                 of some of the line's charges (FOCUS bills, 32_bill_charges.sql): those
--                 charges to their teams, the rest of the line as the account rule says, else
--                 unattributed. After the spans (seen making the calls, with project and
--                 feature; a tag names who owns a resource, not whose calls ran on it), before
--                 the account rule (a charge's own resource or tags say more than its account).
--                 Key rules meet Admin API lines, tags and resources FOCUS lines: a line is
--                 never both, so the order of these two levels does not change money;
--   rule          neither, and a [teams.X] accounts rule names the account: team X;
--   account_month neither, but spans name the account elsewhere in the month: split over the
--                 teams of those spans by their estimates;
--   unattributed  nothing: listed by provider · account · model so a user can write the rule.
-- A credit (type 'credit', a negative amount) is matched to no spans: 54_alloc_credits.sql
-- spreads it over the provider's positive allocation of the month.
CREATE OR REPLACE TEMP TABLE bill_match AS
WITH cells AS (
    SELECT DISTINCT day, provider, account, model, service_tier FROM usage_lines
),
days AS (
    SELECT DISTINCT day, provider, account FROM usage_lines
),
named AS (
    SELECT DISTINCT provider, account FROM usage_lines WHERE account <> ''
),
ruled_keys AS (  -- billed lines holding tokens of a key a key rule names
    SELECT DISTINCT k.day, k.provider, k.account, k.model, k.service_tier,
           CASE WHEN k.token_type = 'cache_write_1h' THEN 'cache_write' ELSE k.token_type END AS token_type
    FROM billing_key_tokens k
    JOIN key_rules kr ON kr.provider = k.provider AND kr.api_key = k.api_key
    WHERE k.day >= $window_start AND k.day < $window_end AND k.billed_tokens > 0
),
m AS (
    SELECT b.*,
           CASE WHEN b.token_type = 'other' THEN d_own.day IS NOT NULL
                ELSE c_own.day IS NOT NULL END AS own_spans,
           CASE WHEN b.token_type = 'other' THEN d_pool.day IS NOT NULL
                ELSE c_pool.day IS NOT NULL END AS pool_spans,
           r.team AS rule_team,
           rk.day IS NOT NULL AND b.token_type NOT IN ('other', 'credit') AS key_ruled,
           t.day IS NOT NULL AS owned_charges,
           n.account IS NOT NULL AS named_in_month
    FROM bill_lines b
    LEFT JOIN cells c_own
      ON c_own.day = b.day AND c_own.provider = b.provider AND c_own.account = b.account
     AND c_own.model = b.model AND c_own.service_tier = b.service_tier
    LEFT JOIN cells c_pool
      ON c_pool.day = b.day AND c_pool.provider = b.provider AND c_pool.account = ''
     AND c_pool.model = b.model AND c_pool.service_tier = b.service_tier
    LEFT JOIN days d_own ON d_own.day = b.day AND d_own.provider = b.provider AND d_own.account = b.account
    LEFT JOIN days d_pool ON d_pool.day = b.day AND d_pool.provider = b.provider AND d_pool.account = ''
    LEFT JOIN account_rules r ON r.provider = b.provider AND r.account = b.account
    LEFT JOIN (SELECT DISTINCT day, provider, account, model, service_tier, token_type
               FROM bill_charges WHERE owner_team IS NOT NULL) t
      ON t.day = b.day AND t.provider = b.provider AND t.account = b.account AND t.model = b.model
     AND t.service_tier = b.service_tier AND t.token_type = b.token_type
    LEFT JOIN named n ON n.provider = b.provider AND n.account = b.account
    LEFT JOIN ruled_keys rk
      ON rk.day = b.day AND rk.provider = b.provider AND rk.account = b.account AND rk.model = b.model
     AND rk.service_tier = b.service_tier AND rk.token_type = b.token_type
),
levelled AS (
    SELECT *,
           CASE WHEN token_type = 'credit' THEN 'credit'
                WHEN own_spans THEN 'account'
                WHEN pool_spans THEN 'pool'
                WHEN key_ruled THEN 'key_rule'
                WHEN owned_charges THEN 'tag'
                WHEN rule_team IS NOT NULL THEN 'rule'
                WHEN named_in_month THEN 'account_month'
                ELSE 'unattributed' END AS matched_by
    FROM m
)
SELECT day, provider, account, model, service_tier, token_type, billed, billed_tokens,
       premium_billed, premium_tokens, premium_kinds, rule_team, matched_by,
       CASE WHEN matched_by = 'pool' THEN '' ELSE account END AS match_account
FROM levelled
