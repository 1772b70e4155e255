-- Version 80: what a FOCUS bill says about each billed charge, beside billing_daily. Grain:
-- source · billing key (day · provider · account · model · tier · token type · line item) ·
-- resource_id · tags · capacity · currency. Units: amount in the billing currency
-- (DECIMAL(18,6)); billed_tokens summed over the charges that carry a count (NULL when none
-- does). Per billing key the rows add up to the billing_daily row. resource_id is the FOCUS
-- ResourceId ('' for none); tags the FOCUS Tags as sorted compact JSON ('' for none);
-- capacity 'on_demand' | 'provisioned' (reserved capacity billed by the hour). Replaced with
-- the billing window it belongs to, in the same transaction as billing_daily. Read by the tag
-- and resource rules and the provisioned-capacity split (sql/reconcile/32_bill_charges.sql).
CREATE TABLE billing_charges (
    source        VARCHAR       NOT NULL,
    day           DATE          NOT NULL,
    provider      VARCHAR       NOT NULL,
    account       VARCHAR       NOT NULL,
    model         VARCHAR       NOT NULL,
    service_tier  VARCHAR       NOT NULL,
    token_type    VARCHAR       NOT NULL,
    line_item     VARCHAR       NOT NULL,
    resource_id   VARCHAR       NOT NULL,
    tags          VARCHAR       NOT NULL,
    capacity      VARCHAR       NOT NULL CHECK (capacity IN ('on_demand', 'provisioned')),
    rows          BIGINT        NOT NULL,
    amount        DECIMAL(18,6) NOT NULL,
    currency      VARCHAR       NOT NULL,
    billed_tokens BIGINT,
    run_id        VARCHAR,
    PRIMARY KEY (source, day, provider, account, model, service_tier, token_type, line_item,
                 resource_id, tags, capacity, currency)
);
