-- Version 50: stored reconciliation results are reused while their inputs are unchanged.
-- One row per reconciled window (results keyed by month = window_start): the fingerprint of
-- every input of the results (finops version and SQL text, price files and overrides, account
-- rules, the window's loads, the provisional cutoff, the currency) and each part's hash as
-- JSON, so a changed input is named. report, gate, anomalies and email read the stored
-- results while the fingerprint matches; 'finops reconcile --force' recomputes regardless.
CREATE TABLE recon_state (
    window_start  DATE      NOT NULL,
    window_end    DATE      NOT NULL,
    fingerprint   VARCHAR   NOT NULL,
    inputs        VARCHAR   NOT NULL,  -- JSON: part -> hash (or value)
    reconciled_at TIMESTAMP NOT NULL,
    run_id        VARCHAR
);

-- What a run did with the results: 'reconciled 2026-10 (prices changed)' or
-- 'stored results for 2026-10 (inputs unchanged since ...)'.
ALTER TABLE runs ADD COLUMN note VARCHAR;
