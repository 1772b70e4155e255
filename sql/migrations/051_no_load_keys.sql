-- Version 51: usage_daily and billing_daily without their primary keys. The two ART indexes
-- were most of the file (a year at 500 teams: 885 MB, 199 MB without them) and no query
-- uses them: every read is a day range, which DuckDB's zone maps (min/max per row group)
-- serve, and the tables are rebuilt here sorted by day so those maps are tight.
-- Uniqueness of the old keys still holds, kept by the only writer, the window load
-- (finops/warehouse/load.py): it checks the incoming frame's key is unique (the pandera
-- models UsageDaily / BillingDaily, unique = the key) and deletes the source's window before
-- inserting, and every incoming row is the source's and inside the window.
-- The tables are copied with every column (columns other migrations added stay); NOT NULL is
-- restored on the columns that had it; the CHECK (>= 0) on counts is checked in the frame.
CREATE TABLE usage_daily_rebuilt AS SELECT * FROM usage_daily ORDER BY day, provider, source;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_rebuilt RENAME TO usage_daily;
ALTER TABLE usage_daily ALTER COLUMN day SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN provider SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN account SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN model SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN service_tier SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN team SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN project SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN feature SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN source SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN requests SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN input_tokens SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN cache_read_tokens SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN cache_write_tokens SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN output_tokens SET NOT NULL;
ALTER TABLE usage_daily ALTER COLUMN reasoning_tokens SET NOT NULL;

CREATE TABLE billing_daily_rebuilt AS SELECT * FROM billing_daily ORDER BY day, provider, source;
DROP TABLE billing_daily;
ALTER TABLE billing_daily_rebuilt RENAME TO billing_daily;
ALTER TABLE billing_daily ALTER COLUMN day SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN provider SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN account SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN model SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN service_tier SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN token_type SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN source SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN line_item SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN amount SET NOT NULL;
ALTER TABLE billing_daily ALTER COLUMN currency SET NOT NULL;
