-- Searches that stay fast as an experiment grows (issue 20). Each run's params, tags and
-- latest metrics carry the run's experiment (a run never changes experiment), so one index
-- per table answers "the runs of this experiment whose metric/param/tag matches", and the
-- metric index, ordered by value, answers the top N of a search ordered by a metric without
-- reading every run. The old (key, value) indexes spanned every experiment of every project.

ALTER TABLE params ADD COLUMN experiment_id INTEGER NOT NULL DEFAULT 0;
UPDATE params SET experiment_id = (SELECT runs.experiment_id FROM runs WHERE runs.id = params.run_id);
DROP INDEX params_key_value;
CREATE INDEX params_search ON params (experiment_id, key, value);

ALTER TABLE run_tags ADD COLUMN experiment_id INTEGER NOT NULL DEFAULT 0;
UPDATE run_tags SET experiment_id = (SELECT runs.experiment_id FROM runs WHERE runs.id = run_tags.run_id);
DROP INDEX run_tags_key_value;
CREATE INDEX run_tags_search ON run_tags (experiment_id, key, value);

ALTER TABLE latest_metrics ADD COLUMN experiment_id INTEGER NOT NULL DEFAULT 0;
UPDATE latest_metrics SET experiment_id = (SELECT runs.experiment_id FROM runs WHERE runs.id = latest_metrics.run_id);
DROP INDEX latest_metrics_key_value;
CREATE INDEX latest_metrics_search ON latest_metrics (experiment_id, key, is_nan, value);
