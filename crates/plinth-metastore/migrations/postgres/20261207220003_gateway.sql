-- The gateway: where each replica of a server workload listens, and the Apps it serves.

CREATE TABLE workload_endpoints (
    workload_id TEXT NOT NULL REFERENCES workloads (id) ON DELETE CASCADE,
    replica BIGINT NOT NULL CHECK (replica >= 0),
    host TEXT NOT NULL,
    port BIGINT NOT NULL CHECK (port > 0 AND port < 65536),
    PRIMARY KEY (workload_id, replica)
);

CREATE TABLE apps (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    host_label TEXT NOT NULL UNIQUE,
    workload_id TEXT NOT NULL REFERENCES workloads (id) ON DELETE CASCADE,
    public BOOLEAN NOT NULL DEFAULT FALSE,
    health_path TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);
