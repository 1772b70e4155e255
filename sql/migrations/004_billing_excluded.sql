-- Version 4: billed money a FOCUS billing source read and left out as not LLM billing (a cloud
-- export is the whole cloud bill: EC2, RDS, ... match no rule). Kept per load window so the
-- report can say, for its month, what was excluded and why. Grain: source · day · reason ·
-- service · currency; amount in the billing currency. reason: 'unmatched' (no rule matched)
-- or 'rule' (an exclude rule matched). Replaced with the billing window it belongs to.
CREATE TABLE billing_excluded (
    source    VARCHAR       NOT NULL,
    day       DATE          NOT NULL,
    reason    VARCHAR       NOT NULL,
    service   VARCHAR       NOT NULL,
    rows      BIGINT        NOT NULL,
    amount    DECIMAL(18,6) NOT NULL,
    currency  VARCHAR       NOT NULL,
    run_id    VARCHAR,
    PRIMARY KEY (source, day, reason, service, currency)
);
