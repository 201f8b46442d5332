-- Files (plinth-files): per-user S3 access keys and the multipart uploads in progress.
-- The secret of a key is kept sealed with the server key (SigV4 needs it to check
-- signatures), never in plaintext. A key may be limited to one project and to reading.
CREATE TABLE file_access_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    read_only INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    last_used_at_ms INTEGER,
    revoked_at_ms INTEGER
) STRICT;
CREATE INDEX file_access_keys_user ON file_access_keys (user_id);

-- A multipart upload: its parts wait under the project's `uploads/{upload_id}/` prefix
-- until it is completed, aborted, or collected as abandoned (by age).
CREATE TABLE file_uploads (
    upload_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    object_key TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX file_uploads_created ON file_uploads (created_at_ms);

CREATE TABLE file_upload_parts (
    upload_id TEXT NOT NULL REFERENCES file_uploads (upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    e_tag TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) STRICT;
