-- Experiment tracking and the model registry, wire-compatible with MLflow 3: experiments,
-- runs with their params, tags and metrics (full history + latest value per key), dataset
-- and model inputs, logged models, registered models, versions, tags and aliases. Every
-- row belongs to a project, directly or through its experiment or registered model.
-- Times are ms since the epoch. Metric values: NaN is stored as value 0 with is_nan = 1;
-- ±infinity is stored as is (REAL holds it).

CREATE TABLE experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    artifact_location TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    is_default INTEGER NOT NULL DEFAULT 0,
    creation_time INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    UNIQUE (project_id, name)
) STRICT;
CREATE UNIQUE INDEX experiments_one_default ON experiments (project_id) WHERE is_default = 1;

CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
) STRICT;

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')),
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    lifecycle_stage TEXT NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    deleted_time INTEGER,
    artifact_uri TEXT NOT NULL
) STRICT;
CREATE INDEX runs_experiment ON runs (experiment_id, lifecycle_stage, start_time DESC, id);
CREATE INDEX runs_project ON runs (project_id);

CREATE TABLE params (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT;
CREATE INDEX params_key_value ON params (key, value);

CREATE TABLE run_tags (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT;
CREATE INDEX run_tags_key_value ON run_tags (key, value);

-- The full history: one row per distinct point, so logging the same point twice is a no-op
-- (as in MLflow). The primary key is the history's read order.
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    step INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value REAL NOT NULL,
    is_nan INTEGER NOT NULL,
    PRIMARY KEY (run_id, key, step, timestamp, value, is_nan)
) STRICT, WITHOUT ROWID;

-- The latest point of each metric (greatest (step, timestamp, value)), for search and order.
CREATE TABLE latest_metrics (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    step INTEGER NOT NULL,
    is_nan INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT;
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    source_type TEXT NOT NULL,
    source TEXT NOT NULL,
    dataset_schema TEXT,
    dataset_profile TEXT,
    UNIQUE (experiment_id, name, digest)
) STRICT;

CREATE TABLE inputs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    UNIQUE (run_id, dataset_id)
) STRICT;
CREATE INDEX inputs_dataset ON inputs (dataset_id);

CREATE TABLE input_tags (
    input_id TEXT NOT NULL REFERENCES inputs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (input_id, key)
) STRICT;

CREATE TABLE logged_models (
    id TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    artifact_location TEXT NOT NULL,
    creation_timestamp INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('UNSPECIFIED', 'PENDING', 'READY', 'FAILED')),
    status_message TEXT,
    lifecycle_stage TEXT NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    model_type TEXT,
    source_run_id TEXT
) STRICT;
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_timestamp DESC, id);
CREATE INDEX logged_models_project ON logged_models (project_id);

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) STRICT;

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) STRICT;

CREATE TABLE logged_model_metrics (
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    step INTEGER NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    value REAL NOT NULL,
    is_nan INTEGER NOT NULL,
    dataset_name TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, timestamp, step, run_id)
) STRICT;
CREATE INDEX logged_model_metrics_run ON logged_model_metrics (run_id);

CREATE TABLE run_model_inputs (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    PRIMARY KEY (run_id, model_id)
) STRICT;
CREATE INDEX run_model_inputs_model ON run_model_inputs (model_id);

CREATE TABLE run_model_outputs (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    PRIMARY KEY (run_id, model_id, step)
) STRICT;
CREATE INDEX run_model_outputs_model ON run_model_outputs (model_id);

CREATE TABLE registered_models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    creation_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    last_version INTEGER NOT NULL DEFAULT 0, -- the highest version ever created, deleted ones included
    UNIQUE (project_id, name)
) STRICT;

CREATE TABLE registered_model_tags (
    registered_model_id INTEGER NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (registered_model_id, key)
) STRICT;

CREATE TABLE model_versions (
    registered_model_id INTEGER NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    creation_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    description TEXT,
    user_id TEXT,
    current_stage TEXT NOT NULL
        CHECK (current_stage IN ('None', 'Staging', 'Production', 'Archived', 'Deleted_Internal')),
    source TEXT NOT NULL,
    storage_location TEXT NOT NULL,
    run_id TEXT,
    run_link TEXT,
    status TEXT NOT NULL CHECK (status IN ('PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY')),
    status_message TEXT,
    model_id TEXT,
    PRIMARY KEY (registered_model_id, version)
) STRICT;
CREATE INDEX model_versions_run ON model_versions (run_id);
CREATE INDEX model_versions_stage ON model_versions (registered_model_id, current_stage, version DESC);

CREATE TABLE model_version_tags (
    registered_model_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (registered_model_id, version, key),
    FOREIGN KEY (registered_model_id, version)
        REFERENCES model_versions (registered_model_id, version) ON DELETE CASCADE
) STRICT;

CREATE TABLE registered_model_aliases (
    registered_model_id INTEGER NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (registered_model_id, alias),
    FOREIGN KEY (registered_model_id, version)
        REFERENCES model_versions (registered_model_id, version) ON DELETE CASCADE
) STRICT;
CREATE INDEX registered_model_aliases_version ON registered_model_aliases (registered_model_id, version);
