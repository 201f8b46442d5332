-- Identity federation: which account an external identity (a directory entry or an OpenID
-- Connect subject) logs in as. `provider` is the `[[auth.ldap]]` or `[[auth.oidc]]` name.

CREATE TABLE federated_identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    last_seen_at_ms BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE INDEX federated_identities_user ON federated_identities (user_id);
