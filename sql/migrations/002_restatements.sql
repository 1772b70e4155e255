-- Version 2: restatements. Providers restate recent days; a settled day (older than the
-- provisional window) that changes on a re-pull is recorded here, old and new amount, instead
-- of being silently overwritten. Grain: one row per changed billing line per detection.
CREATE TABLE restatements (
    source       VARCHAR       NOT NULL,
    day          DATE          NOT NULL,
    provider     VARCHAR       NOT NULL,
    account      VARCHAR       NOT NULL,
    model        VARCHAR       NOT NULL,
    service_tier VARCHAR       NOT NULL,
    token_type   VARCHAR       NOT NULL,
    line_item    VARCHAR       NOT NULL,
    old_amount   DECIMAL(18,6) NOT NULL,
    new_amount   DECIMAL(18,6) NOT NULL,
    currency     VARCHAR       NOT NULL,
    detected_at  TIMESTAMP     NOT NULL,
    run_id       VARCHAR
);
