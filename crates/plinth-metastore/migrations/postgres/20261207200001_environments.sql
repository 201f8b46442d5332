-- Environments (plinth-envs): named software environments of a project, or global ones
-- admins define (`project_id` NULL, `scope` ''); every change is a new immutable version.
-- `scope` is the project's id or '' so that names are unique per scope (NULLs never clash).
CREATE TABLE environments (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    latest_version BIGINT NOT NULL CHECK (latest_version >= 1),
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    CHECK (scope = COALESCE(project_id, '')),
    UNIQUE (scope, name)
);

-- One immutable version: what was asked (`spec`, JSON), which fields changed from the
-- version before (`changes`, JSON array), who and when. The lock is set once, by the
-- resolution; a failed resolution keeps its reason.
CREATE TABLE environment_versions (
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    version BIGINT NOT NULL CHECK (version >= 1),
    spec TEXT NOT NULL,
    changes TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    resolution TEXT NOT NULL DEFAULT 'pending' CHECK (resolution IN ('pending', 'resolved', 'failed')),
    resolution_error TEXT,
    lock TEXT,
    lock_hash TEXT,
    resolved_at_ms BIGINT,
    PRIMARY KEY (environment_id, version)
);
CREATE INDEX environment_versions_lock ON environment_versions (lock_hash);

-- Built environments, one per scope and lock: their state and when a job last used them
-- (unused ones are collected).
CREATE TABLE environment_builds (
    scope TEXT NOT NULL,
    lock_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('building', 'ready', 'failed')),
    error TEXT,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT,
    last_used_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, lock_hash)
);
