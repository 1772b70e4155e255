-- Version 70: spend per API key. The providers' usage reports, grouped by api_key_id, give the
-- billed tokens per key; the cost reports give none, so a billed cell's money is split over its
-- keys by these tokens (sql/report/key_spend.sql). Grain: day · provider · account · model ·
-- tier · token type · api_key · source; tokens. api_key '' = usage the provider attributes to no
-- key (Anthropic's Console and Workbench). Replaced with the billing window it belongs to.
CREATE TABLE billing_key_tokens (
    day           DATE    NOT NULL,
    provider      VARCHAR NOT NULL,
    account       VARCHAR NOT NULL,
    model         VARCHAR NOT NULL,
    service_tier  VARCHAR NOT NULL,
    token_type    VARCHAR NOT NULL,
    api_key       VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    billed_tokens BIGINT  NOT NULL,
    run_id        VARCHAR,
    PRIMARY KEY (day, provider, account, model, service_tier, token_type, api_key, source)
);

-- The keys' names as the providers' key listings give them: the id, the name and at most the
-- provider's own redacted hint (sk-ant-api03-R2D...igAA), never a key's value. One row per
-- provider · key id, the latest listing's word; a key no longer listed keeps its last name.
CREATE TABLE api_keys (
    provider  VARCHAR   NOT NULL,
    api_key   VARCHAR   NOT NULL,
    name      VARCHAR,
    hint      VARCHAR,
    account   VARCHAR,
    source    VARCHAR   NOT NULL,
    listed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, api_key)
);
