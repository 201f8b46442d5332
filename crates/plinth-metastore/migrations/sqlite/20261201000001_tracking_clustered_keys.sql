-- Params, run tags and latest metrics are always read by (run_id, key): searches test them
-- per run and pages load them per run. As rowid tables each read was two B-tree searches
-- (the primary-key index, then the row); clustered on the key (WITHOUT ROWID) it is one.
-- A filtered search over 10,000 runs took half the time in a benchmark after this change.

CREATE TABLE params_clustered (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;
INSERT INTO params_clustered (run_id, key, value) SELECT run_id, key, value FROM params;
DROP TABLE params;
ALTER TABLE params_clustered RENAME TO params;
CREATE INDEX params_key_value ON params (key, value);

CREATE TABLE run_tags_clustered (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;
INSERT INTO run_tags_clustered (run_id, key, value) SELECT run_id, key, value FROM run_tags;
DROP TABLE run_tags;
ALTER TABLE run_tags_clustered RENAME TO run_tags;
CREATE INDEX run_tags_key_value ON run_tags (key, value);

CREATE TABLE latest_metrics_clustered (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    step INTEGER NOT NULL,
    is_nan INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;
INSERT INTO latest_metrics_clustered (run_id, key, value, timestamp, step, is_nan)
    SELECT run_id, key, value, timestamp, step, is_nan FROM latest_metrics;
DROP TABLE latest_metrics;
ALTER TABLE latest_metrics_clustered RENAME TO latest_metrics;
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);
