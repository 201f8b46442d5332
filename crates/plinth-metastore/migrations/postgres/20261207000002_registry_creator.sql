-- Who created a registered model (MLflow's `user_id`: the caller's login, as for runs and
-- versions), and the deployment job a client attached to it (MLflow's `deployment_job_id`;
-- stored and returned, Plinth runs no deployment jobs of its own).
ALTER TABLE registered_models ADD COLUMN user_id TEXT;
ALTER TABLE registered_models ADD COLUMN deployment_job_id TEXT;
