-- Searches that stay fast as an experiment grows (issue 20). Each run's params, tags and
-- latest metrics carry the run's experiment (a run never changes experiment), so one index
-- per table answers "the runs of this experiment whose metric/param/tag matches", and the
-- metric index, ordered by value, answers the top N of a search ordered by a metric without
-- reading every run. The old (key, value) indexes spanned every experiment of every project.
-- Text values are indexed by digest, as before (a B-tree entry must stay under ~2.7 kB).

ALTER TABLE params ADD COLUMN experiment_id BIGINT NOT NULL DEFAULT 0;
UPDATE params SET experiment_id = runs.experiment_id FROM runs WHERE runs.id = params.run_id;
ALTER TABLE params ALTER COLUMN experiment_id DROP DEFAULT;
DROP INDEX params_key_value;
CREATE INDEX params_search ON params (experiment_id, key, md5(value));

ALTER TABLE run_tags ADD COLUMN experiment_id BIGINT NOT NULL DEFAULT 0;
UPDATE run_tags SET experiment_id = runs.experiment_id FROM runs WHERE runs.id = run_tags.run_id;
ALTER TABLE run_tags ALTER COLUMN experiment_id DROP DEFAULT;
DROP INDEX run_tags_key_value;
CREATE INDEX run_tags_search ON run_tags (experiment_id, key, md5(value));

ALTER TABLE latest_metrics ADD COLUMN experiment_id BIGINT NOT NULL DEFAULT 0;
UPDATE latest_metrics SET experiment_id = runs.experiment_id FROM runs WHERE runs.id = latest_metrics.run_id;
ALTER TABLE latest_metrics ALTER COLUMN experiment_id DROP DEFAULT;
DROP INDEX latest_metrics_key_value;
CREATE INDEX latest_metrics_search ON latest_metrics (experiment_id, key, is_nan, value);
