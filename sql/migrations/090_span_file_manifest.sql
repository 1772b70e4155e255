-- Version 90: the manifest of span files (sources of kind otlp_files, on disk or in object
-- storage), so that a pull reads only what is new or changed.
-- Grain: source · path. One row per file the source's globs (or prefixes) listed at its last
-- pull. size in bytes, mtime in ns since the epoch (object storage: LastModified), fingerprint
-- a content digest of the bytes as stored ("xxh3:" + xxh3-128 hex; blake2b-128 hex before;
-- NULL when the file was not read),
-- day_lo / day_hi the first and last UTC day of its LLM spans (NULL: not read, or no LLM span),
-- days the distinct days (JSON list of ISO dates), lines / spans / llm_spans counted when read.
-- status: 'read' (read whole), 'partial' (the newest file's incomplete last line left for the
-- next run), 'corrupt' (unreadable lines, all its readable spans outside the windows pulled),
-- 'old' (modified before the window began: cannot hold its spans, not read),
-- 'same_content' (the same bytes as another listed file: counted once).
CREATE TABLE span_files (
    source       VARCHAR   NOT NULL,
    path         VARCHAR   NOT NULL,
    size         BIGINT    NOT NULL,
    mtime_ns     BIGINT    NOT NULL,
    fingerprint  VARCHAR,
    day_lo       DATE,
    day_hi       DATE,
    days         VARCHAR,
    lines        BIGINT,
    spans        BIGINT,
    llm_spans    BIGINT,
    status       VARCHAR   NOT NULL,
    note         VARCHAR,
    read_at      TIMESTAMP NOT NULL,
    run_id       VARCHAR,
    PRIMARY KEY (source, path)
);

-- Days whose usage_daily rows of the source are the rollup of the files in span_files, under
-- the attribute mapping and options fingerprinted as plan. A pull re-reads a day (all files
-- holding it, de-duplicated together) only when it is missing here, its plan changed, or a
-- file holding it is new, changed or gone.
CREATE TABLE span_file_days (
    source  VARCHAR   NOT NULL,
    day     DATE      NOT NULL,
    plan    VARCHAR   NOT NULL,
    run_id  VARCHAR,
    PRIMARY KEY (source, day)
);
