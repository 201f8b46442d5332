-- The image a build produced on the Kubernetes backend: `registry/plinth/<scope>/<env>@sha256:…`
-- (the digest the registry reported), which workloads of that lock run. NULL for builds of the
-- local backend (virtual environments).
ALTER TABLE environment_builds ADD COLUMN image TEXT;
