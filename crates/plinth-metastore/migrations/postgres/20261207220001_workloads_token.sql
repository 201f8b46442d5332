-- A run created with a workload's token records the job (issue 12): find the workload by
-- its token without scanning every workload.
CREATE INDEX workloads_token ON workloads (token_id) WHERE token_id IS NOT NULL;
