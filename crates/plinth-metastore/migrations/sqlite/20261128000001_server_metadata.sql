-- The installation (exactly one row) and free-form server metadata entries.
CREATE TABLE installation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    installation_id TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    last_started_at_ms INTEGER NOT NULL,
    last_started_version TEXT NOT NULL,
    start_count INTEGER NOT NULL
) STRICT;

CREATE TABLE server_metadata (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;
