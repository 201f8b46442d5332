-- The workload runtime: node pools, resource classes, project quotas, workloads (jobs,
-- later workspaces and deployments) and the daily usage ledger.
CREATE TABLE node_pools (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    node_selector TEXT NOT NULL, -- JSON object of node labels
    taints TEXT NOT NULL,        -- JSON array of {key, value, effect}
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE resource_classes (
    name TEXT PRIMARY KEY,
    pool TEXT NOT NULL REFERENCES node_pools (name),
    description TEXT NOT NULL,
    cpu_millis BIGINT NOT NULL CHECK (cpu_millis > 0),
    memory_bytes BIGINT NOT NULL CHECK (memory_bytes > 0),
    gpus BIGINT NOT NULL CHECK (gpus >= 0),
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX resource_classes_pool ON resource_classes (pool);

CREATE TABLE project_quotas (
    project_id TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    cpu_millis BIGINT,
    memory_bytes BIGINT,
    gpus BIGINT,
    max_jobs BIGINT,
    max_workspaces BIGINT,
    max_deployments BIGINT,
    allow_custom_sizes BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE workloads (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('job', 'workspace', 'deployment')),
    name TEXT NOT NULL,
    class TEXT NOT NULL,
    pool TEXT NOT NULL,
    cpu_millis BIGINT NOT NULL,
    memory_bytes BIGINT NOT NULL,
    gpus BIGINT NOT NULL,
    spec TEXT NOT NULL, -- JSON WorkloadCommand
    state TEXT NOT NULL CHECK (state IN ('queued', 'starting', 'pending', 'running', 'succeeded', 'failed', 'stopped', 'lost')),
    reason TEXT NOT NULL DEFAULT '',
    exit_code BIGINT,
    stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL REFERENCES users (id),
    rerun_of TEXT,
    token_id TEXT,
    backend TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    finished_at_ms BIGINT,
    accounted_until_ms BIGINT
);
CREATE INDEX workloads_project_created ON workloads (project_id, created_at_ms DESC, id DESC);
CREATE INDEX workloads_active ON workloads (state, created_at_ms)
    WHERE state IN ('queued', 'starting', 'pending', 'running');

CREATE TABLE usage_daily (
    day TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    class TEXT NOT NULL,
    cpu_milli_seconds BIGINT NOT NULL,
    memory_mib_seconds BIGINT NOT NULL,
    gpu_seconds BIGINT NOT NULL,
    wall_seconds BIGINT NOT NULL,
    PRIMARY KEY (day, project_id, user_id, class)
);
CREATE INDEX usage_daily_project ON usage_daily (project_id, day);

-- The four pools of the reference installation and a few classes; admins edit them.
INSERT INTO node_pools (name, description, node_selector, taints, updated_at_ms) VALUES
    ('platform', 'Runs Plinth itself and its services', '{"plinth.dev/pool":"platform"}', '[{"key":"plinth.dev/pool","value":"platform","effect":"NoSchedule"}]', 0),
    ('compute', 'Jobs, pipeline steps and workspaces', '{"plinth.dev/pool":"compute"}', '[{"key":"plinth.dev/pool","value":"compute","effect":"NoSchedule"}]', 0),
    ('deployment', 'Model APIs and apps', '{"plinth.dev/pool":"deployment"}', '[{"key":"plinth.dev/pool","value":"deployment","effect":"NoSchedule"}]', 0),
    ('gpu', 'Work that needs NVIDIA GPUs', '{"plinth.dev/pool":"gpu"}', '[{"key":"plinth.dev/pool","value":"gpu","effect":"NoSchedule"},{"key":"nvidia.com/gpu","value":"present","effect":"NoSchedule"}]', 0);

INSERT INTO resource_classes (name, pool, description, cpu_millis, memory_bytes, gpus, updated_at_ms) VALUES
    ('small', 'compute', '1 CPU, 2 GiB', 1000, 2147483648, 0, 0),
    ('medium', 'compute', '2 CPU, 8 GiB', 2000, 8589934592, 0, 0),
    ('large', 'compute', '4 CPU, 16 GiB', 4000, 17179869184, 0, 0),
    ('serve-small', 'deployment', '1 CPU, 2 GiB for model APIs and apps', 1000, 2147483648, 0, 0),
    ('gpu-1', 'gpu', '8 CPU, 32 GiB, 1 GPU', 8000, 34359738368, 1, 0);
