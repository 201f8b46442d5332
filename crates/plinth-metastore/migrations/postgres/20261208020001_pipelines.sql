-- Pipelines (plinth-pipelines, docs/design/pipelines.md): KFP experiments, uploaded
-- pipelines and their versions, runs and the state of each task of a run. What is queried
-- or unique has a column; the rest of each record is its JSON `body`.

CREATE TABLE pipeline_experiments (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE pipelines (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE pipeline_versions (
    id TEXT PRIMARY KEY,
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (pipeline_id, name)
);

CREATE TABLE pipeline_runs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    experiment_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX pipeline_runs_by_project ON pipeline_runs (project_id, created_at_ms);
CREATE INDEX pipeline_runs_by_state ON pipeline_runs (state);

CREATE TABLE pipeline_tasks (
    run_id TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    task_key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, task_key)
);
