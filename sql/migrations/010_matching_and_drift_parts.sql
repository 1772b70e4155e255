-- Version 10: the matching hierarchy (spans without an account attribute), drift named to its
-- causes, credits. See sql/reconcile/35_bill_match.sql and 40_lines.sql.

-- Billing: the provider's request count for a row's day · account · model · tier (carried on
-- one row of that key, NULL elsewhere and where the API gives none), and the surcharge kinds
-- the bill itself names on the row (long_context, geo:<region>, priority, fast; NULL = base rate).
ALTER TABLE billing_daily ADD COLUMN billed_requests BIGINT;
ALTER TABLE billing_daily ADD COLUMN premium VARCHAR;

-- Reconciliation lines: how the billed side was matched (account | pool | rule | account_month
-- | unattributed | credit; NULL for spans with no bill), requests seen and billed
-- per cell, and the new drift parts. account = '' on a line is the pool: billed accounts no span
-- names, against the spans that carry no account. status gains 'non_token' and 'credit'; a
-- line whose cell has spans and a bill is 'matched' even when one side lacks its token type.
ALTER TABLE recon_lines ADD COLUMN matched_by VARCHAR;
ALTER TABLE recon_lines ADD COLUMN span_requests BIGINT;
ALTER TABLE recon_lines ADD COLUMN billed_requests BIGINT;
ALTER TABLE recon_lines ADD COLUMN premium_kinds VARCHAR;
ALTER TABLE recon_lines ADD COLUMN coverage DECIMAL(38,12);  -- fewer/more spans than billed requests
ALTER TABLE recon_lines ADD COLUMN premium DECIMAL(38,12);   -- surcharge the bill names, vs the table's base rate
ALTER TABLE recon_lines ADD COLUMN non_token DECIMAL(38,12); -- -B of a charge that is not tokens
ALTER TABLE recon_lines ADD COLUMN credit DECIMAL(38,12);    -- -B of a credit (B < 0)

-- One row per billed line of the month (day · provider · account · model · tier · token type,
-- as billed) and how it was matched: the account's spans, the pool of spans without account,
-- an account rule, the account's spans elsewhere in the month, or nothing (unattributed).
-- match_account is the account of the recon_lines / recon_alloc row it went into ('' = pool).
CREATE TABLE recon_bill_match (
    month         DATE          NOT NULL,
    day           DATE          NOT NULL,
    provider      VARCHAR       NOT NULL,
    account       VARCHAR       NOT NULL,
    model         VARCHAR       NOT NULL,
    service_tier  VARCHAR       NOT NULL,
    token_type    VARCHAR       NOT NULL,
    billed        DECIMAL(18,6) NOT NULL,
    matched_by    VARCHAR       NOT NULL,
    match_account VARCHAR       NOT NULL,
    rule_team     VARCHAR
);

-- Spans loaded before version 10 carried the made-up account 'default' when they had no account
-- attribute (the only way 'default' reached usage_daily): they name no account.
UPDATE usage_daily SET account = '' WHERE account = 'default';
