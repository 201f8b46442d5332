-- Metric values come back bit for bit (issue 20). A column declared REAL has REAL affinity,
-- and SQLite writes a REAL value with no fractional part as an integer to save space,
-- turning it back into a REAL when read: -0.0 is written as the integer 0 and comes back as
-- +0.0. A STRICT column of type ANY keeps every value exactly as bound (Plinth always binds
-- an f64), and compares and sorts REAL values numerically as before.

CREATE TABLE metrics_exact (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    step INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value ANY NOT NULL,
    is_nan INTEGER NOT NULL,
    PRIMARY KEY (run_id, key, step, timestamp, value, is_nan)
) STRICT, WITHOUT ROWID;
INSERT INTO metrics_exact (run_id, key, step, timestamp, value, is_nan)
    SELECT run_id, key, step, timestamp, value, is_nan FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_exact RENAME TO metrics;

CREATE TABLE latest_metrics_exact (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value ANY NOT NULL,
    timestamp INTEGER NOT NULL,
    step INTEGER NOT NULL,
    is_nan INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;
INSERT INTO latest_metrics_exact (run_id, key, value, timestamp, step, is_nan)
    SELECT run_id, key, value, timestamp, step, is_nan FROM latest_metrics;
DROP TABLE latest_metrics;
ALTER TABLE latest_metrics_exact RENAME TO latest_metrics;
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);

CREATE TABLE logged_model_metrics_exact (
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    step INTEGER NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    value ANY NOT NULL,
    is_nan INTEGER NOT NULL,
    dataset_name TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, timestamp, step, run_id)
) STRICT;
INSERT INTO logged_model_metrics_exact
    (model_id, key, timestamp, step, run_id, value, is_nan, dataset_name, dataset_digest)
    SELECT model_id, key, timestamp, step, run_id, value, is_nan, dataset_name, dataset_digest
    FROM logged_model_metrics;
DROP TABLE logged_model_metrics;
ALTER TABLE logged_model_metrics_exact RENAME TO logged_model_metrics;
CREATE INDEX logged_model_metrics_run ON logged_model_metrics (run_id);
