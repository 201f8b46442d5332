-- Model APIs (plinth-serving): a deployment serves one registered model version of its
-- project under `/{organization}/{project}/models/{name}`. `model_ref` is what was asked
-- (`iris/3` or `iris@champion`), `model_version` what it resolved to at creation; the
-- model's files are copied under the deployment's own object key, so deleting the version
-- later does not break it. `state`: loading (into the runtime), ready, failed (`message`).
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL CHECK (model_version >= 1),
    model_ref TEXT NOT NULL,
    flavor TEXT NOT NULL,
    signature TEXT,
    state TEXT NOT NULL CHECK (state IN ('loading', 'ready', 'failed')),
    message TEXT,
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    UNIQUE (project_id, name)
) STRICT;
