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

-- Reconciliation results, replaced per month by 'finops reconcile'. month = first day.
-- Grain: day · provider · account · model · tier · compare type (cache_write_1h is compared
-- as cache_write, its premium lands in the rate part). Money in USD: estimates are
-- DECIMAL(38,12) (tokens × price, exact), billed amounts DECIMAL(18,6) as the provider sent them.
CREATE TABLE recon_lines (
    month           DATE           NOT NULL,
    day             DATE           NOT NULL,
    provider        VARCHAR        NOT NULL,
    account         VARCHAR        NOT NULL,
    model           VARCHAR        NOT NULL,
    service_tier    VARCHAR        NOT NULL,
    token_type      VARCHAR        NOT NULL,
    status          VARCHAR        NOT NULL,  -- matched | billed_only | spans_only
    span_tokens     BIGINT,
    unpriced_tokens BIGINT,
    estimated       DECIMAL(38,12),
    usd_per_mtok    DECIMAL(18,6),            -- price in force (after overrides); NULL = unpriced
    billed          DECIMAL(18,6),
    billed_tokens   BIGINT,
    volume          DECIMAL(38,12),           -- (T_spans - T_billed) * p
    rate            DECIMAL(38,12),           -- T_billed * p - B
    unpriced        DECIMAL(38,12),           -- -B where there is no price
    unmatched       DECIMAL(38,12),           -- -B (bill, no spans) or +E (spans, no bill)
    unexplained     DECIMAL(38,12),           -- E - B where billed tokens are unknown, or non-token charges
    provisional     BOOLEAN        NOT NULL
);

-- Allocation of billed money to usage rows. Grain: day · provider · account · model · tier ·
-- token (compare) type · team · project · feature. allocated sums to billed per cell exactly (largest remainder on
-- micro-dollars); basis says how: cost share, token share (cell has unpriced usage), an
-- account rule, or unattributed.
CREATE TABLE recon_alloc (
    month           DATE           NOT NULL,
    day             DATE           NOT NULL,
    provider        VARCHAR        NOT NULL,
    account         VARCHAR        NOT NULL,
    model           VARCHAR        NOT NULL,
    service_tier    VARCHAR        NOT NULL,
    token_type      VARCHAR        NOT NULL,
    team            VARCHAR        NOT NULL,
    project         VARCHAR        NOT NULL,
    feature         VARCHAR        NOT NULL,
    tokens          BIGINT         NOT NULL,
    unpriced_tokens BIGINT         NOT NULL,
    estimated       DECIMAL(38,12) NOT NULL,
    list_cost       DECIMAL(38,12) NOT NULL,
    allocated       DECIMAL(18,6)  NOT NULL,
    basis           VARCHAR        NOT NULL,
    provisional     BOOLEAN        NOT NULL
);

-- Team chargeback per provider in cents: largest remainder so that, per provider, the
-- team amounts add up to the provider's billed total rounded to the cent.
CREATE TABLE recon_team_provider (
    month     DATE          NOT NULL,
    provider  VARCHAR       NOT NULL,
    team      VARCHAR       NOT NULL,
    exact     DECIMAL(38,6) NOT NULL,
    allocated DECIMAL(18,2) NOT NULL,
    estimated DECIMAL(38,12) NOT NULL
);
