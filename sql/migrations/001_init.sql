-- Version 1: the canonical tables (DESIGN.md), the price tables and the run ledger.
-- Grain and units are in each table's comment; money is DECIMAL(18,6) beside a currency.

-- Estimate side. One row per day (UTC) · provider · account · model · tier · team · project ·
-- feature · source. Token fields are disjoint: input excludes cache reads and cache writes;
-- reasoning is a subset of output, kept for explanation.
CREATE TABLE usage_daily (
    day                DATE    NOT NULL,
    provider           VARCHAR NOT NULL,
    account            VARCHAR NOT NULL,
    model              VARCHAR NOT NULL,
    service_tier       VARCHAR NOT NULL,
    team               VARCHAR NOT NULL,
    project            VARCHAR NOT NULL,
    feature            VARCHAR NOT NULL,
    source             VARCHAR NOT NULL,
    requests           BIGINT  NOT NULL CHECK (requests >= 0),
    input_tokens       BIGINT  NOT NULL CHECK (input_tokens >= 0),
    cache_read_tokens  BIGINT  NOT NULL CHECK (cache_read_tokens >= 0),
    cache_write_tokens BIGINT  NOT NULL CHECK (cache_write_tokens >= 0),
    output_tokens      BIGINT  NOT NULL CHECK (output_tokens >= 0),
    reasoning_tokens   BIGINT  NOT NULL CHECK (reasoning_tokens >= 0),
    PRIMARY KEY (day, provider, account, model, service_tier, team, project, feature, source)
);

-- Truth side. One row per day · provider · account · model · tier · token type · source ·
-- line item (raw provider text kept for audit). amount in the billing currency.
CREATE TABLE billing_daily (
    day           DATE          NOT NULL,
    provider      VARCHAR       NOT NULL,
    account       VARCHAR       NOT NULL,
    model         VARCHAR       NOT NULL,
    service_tier  VARCHAR       NOT NULL,
    token_type    VARCHAR       NOT NULL,
    source        VARCHAR       NOT NULL,
    line_item     VARCHAR       NOT NULL,
    amount        DECIMAL(18,6) NOT NULL,
    currency      VARCHAR       NOT NULL,
    billed_tokens BIGINT,
    PRIMARY KEY (day, provider, account, model, service_tier, token_type, source, line_item)
);

-- List prices in USD per million tokens, effective-dated [effective_from, effective_to).
-- Reloaded from pricing/ before every reconciliation, so history re-prices when a file changes.
CREATE TABLE prices (
    provider       VARCHAR       NOT NULL,
    model_match    VARCHAR       NOT NULL,
    match_kind     VARCHAR       NOT NULL CHECK (match_kind IN ('exact', 'prefix')),
    token_type     VARCHAR       NOT NULL,
    service_tier   VARCHAR       NOT NULL,
    usd_per_mtok   DECIMAL(18,6) NOT NULL CHECK (usd_per_mtok >= 0),
    effective_from DATE          NOT NULL,
    effective_to   DATE,
    source_url     VARCHAR,
    checked        DATE
);

-- Negotiated discounts (percent off list), effective-dated; model_match NULL = whole provider.
CREATE TABLE price_overrides (
    provider       VARCHAR      NOT NULL,
    model_match    VARCHAR,
    match_kind     VARCHAR      NOT NULL CHECK (match_kind IN ('exact', 'prefix', 'any')),
    discount_pct   DECIMAL(9,4) NOT NULL CHECK (discount_pct >= 0 AND discount_pct <= 100),
    effective_from DATE         NOT NULL,
    effective_to   DATE,
    note           VARCHAR
);

-- Every window a source loaded: [window_start, window_end) of UTC days. Billing coverage
-- (is billing missing for a day?) is read from here, not guessed from the amounts.
CREATE TABLE load_windows (
    source       VARCHAR   NOT NULL,
    kind         VARCHAR   NOT NULL CHECK (kind IN ('usage', 'billing')),
    provider     VARCHAR   NOT NULL,
    window_start DATE      NOT NULL,
    window_end   DATE      NOT NULL,
    rows         BIGINT    NOT NULL,
    loaded_at    TIMESTAMP NOT NULL,
    run_id       VARCHAR,
    PRIMARY KEY (source, kind, provider, window_start, window_end)
);

-- The run ledger: one row per command run that touched the warehouse.
CREATE TABLE runs (
    run_id       VARCHAR   PRIMARY KEY,
    command      VARCHAR   NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    status       VARCHAR   NOT NULL,
    window_start DATE,
    window_end   DATE,
    sources      VARCHAR[],
    rows         BIGINT,
    errors       VARCHAR,
    duration_s   DOUBLE
);
