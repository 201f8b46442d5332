//! The usage ledger: CPU-, memory- and GPU-hours per project, user and class, by UTC day.
//! The reconciler adds each running workload's usage at least every `usage_interval` and at
//! its end; each interval is written once (see `RuntimeStore::accrue_usage`).

use plinth_metastore::{UsageDelta, UsageQuery};
use plinth_types::{UsageRecord, Workload};

use super::RuntimeService;
use crate::{CoreError, CoreResult, Principal, ProjectPass};

const DAY_MS: i64 = 86_400_000;

/// Which part of the ledger to read.
#[derive(Clone, Debug, Default)]
pub struct UsageFilter {
    /// First day, inclusive (`YYYY-MM-DD`).
    pub from_day: Option<String>,
    /// Last day, inclusive.
    pub to_day: Option<String>,
}

fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".to_string())
}

/// Splits a workload's use over `[from_ms, to_ms)` into one delta per UTC day.
pub fn split_by_day(workload: &Workload, from_ms: i64, to_ms: i64) -> Vec<UsageDelta> {
    let mut deltas = Vec::new();
    let mut start = from_ms;
    while start < to_ms {
        let day_end = (start.div_euclid(DAY_MS) + 1) * DAY_MS;
        let end = day_end.min(to_ms);
        let millis = end - start;
        // Whole milliseconds kept as products, rounded to seconds once.
        let seconds = |per_second: i64| (per_second * millis) / 1000;
        deltas.push(UsageDelta {
            day: day_of(start),
            cpu_milli_seconds: seconds(i64::from(workload.cpu_millis)),
            memory_mib_seconds: seconds((workload.memory_bytes / (1024 * 1024)) as i64),
            gpu_seconds: seconds(i64::from(workload.gpus)),
            wall_seconds: (millis + 500) / 1000,
        });
        start = end;
    }
    deltas
}

fn check_day(field: &str, day: &Option<String>) -> CoreResult<()> {
    if let Some(day) = day {
        if chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err() {
            return Err(CoreError::InvalidArgument(format!(
                "invalid `{field}`: `{day}` is not a date like 2026-11-29"
            )));
        }
    }
    Ok(())
}

/// The ledger as CSV, one row per day, project, user and class.
pub fn usage_csv(records: &[UsageRecord], project_names: &dyn Fn(&str) -> String) -> String {
    let mut out =
        String::from("day,project,user,class,cpu_hours,memory_gib_hours,gpu_hours,wall_hours\n");
    let quote = |text: &str| {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    for record in records {
        out.push_str(&format!(
            "{},{},{},{},{:.4},{:.4},{:.4},{:.4}\n",
            record.day,
            quote(&project_names(&record.project_id)),
            quote(&record.username),
            quote(&record.class),
            record.cpu_hours,
            record.memory_gib_hours,
            record.gpu_hours,
            record.wall_hours
        ));
    }
    out
}

impl RuntimeService {
    /// One project's ledger (viewers).
    pub async fn project_usage(
        &self,
        pass: &ProjectPass,
        filter: &UsageFilter,
    ) -> CoreResult<Vec<UsageRecord>> {
        check_day("from", &filter.from_day)?;
        check_day("to", &filter.to_day)?;
        Ok(self
            .inner
            .store
            .usage_report(&UsageQuery {
                project_ids: Some(vec![pass.project().id.clone()]),
                from_day: filter.from_day.clone(),
                to_day: filter.to_day.clone(),
            })
            .await?)
    }

    /// The whole platform's ledger (platform admins).
    pub async fn platform_usage(
        &self,
        principal: &Principal,
        filter: &UsageFilter,
    ) -> CoreResult<Vec<UsageRecord>> {
        principal.require_admin()?;
        check_day("from", &filter.from_day)?;
        check_day("to", &filter.to_day)?;
        Ok(self
            .inner
            .store
            .usage_report(&UsageQuery {
                project_ids: None,
                from_day: filter.from_day.clone(),
                to_day: filter.to_day.clone(),
            })
            .await?)
    }

    /// Writes a workload's usage up to `until_ms` into the ledger.
    pub(super) async fn accrue(&self, workload: &Workload, until_ms: i64) -> CoreResult<()> {
        let Some(started) = workload.started_at_ms else {
            return Ok(());
        };
        let from = workload.accounted_until_ms.unwrap_or(started).max(started);
        if until_ms <= from {
            return Ok(());
        }
        let deltas = split_by_day(workload, from, until_ms);
        match self
            .inner
            .store
            .accrue_usage(workload, until_ms, &deltas)
            .await
        {
            // Someone else accounted it meanwhile; the next pass reads the new mark.
            Ok(()) | Err(plinth_metastore::StoreError::Conflict(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plinth_types::{WorkloadCommand, WorkloadKind, WorkloadState};

    fn workload() -> Workload {
        Workload {
            id: "w".to_string(),
            project_id: "p".to_string(),
            kind: WorkloadKind::Job,
            name: "w".to_string(),
            class: "gpu-1".to_string(),
            pool: "gpu".to_string(),
            cpu_millis: 8000,
            memory_bytes: 32 << 30,
            gpus: 1,
            spec: WorkloadCommand::default(),
            state: WorkloadState::Running,
            reason: String::new(),
            exit_code: None,
            stop_requested: false,
            created_by: "u".to_string(),
            created_by_username: "u".to_string(),
            rerun_of: None,
            created_at_ms: 0,
            started_at_ms: Some(0),
            finished_at_ms: None,
            accounted_until_ms: None,
            backend: "local".to_string(),
        }
    }

    #[test]
    fn usage_is_split_at_midnight_utc() {
        // 2026-11-28 23:30 to 2026-11-29 01:00 UTC.
        let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_opt(23, 30, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let deltas = split_by_day(&workload(), start, start + 90 * 60_000);
        assert_eq!(deltas.len(), 2);
        assert_eq!(deltas[0].day, "2026-11-28");
        assert_eq!(deltas[0].wall_seconds, 1800);
        assert_eq!(deltas[0].cpu_milli_seconds, 8000 * 1800);
        assert_eq!(deltas[0].gpu_seconds, 1800);
        assert_eq!(deltas[1].day, "2026-11-29");
        assert_eq!(deltas[1].wall_seconds, 3600);
        assert_eq!(deltas[1].memory_mib_seconds, 32 * 1024 * 3600);
        assert!(split_by_day(&workload(), start, start).is_empty());
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let record = UsageRecord {
            day: "2026-11-29".to_string(),
            project_id: "p".to_string(),
            user_id: "u".to_string(),
            username: "ann".to_string(),
            class: "small".to_string(),
            cpu_hours: 1.5,
            memory_gib_hours: 3.0,
            gpu_hours: 0.0,
            wall_hours: 1.5,
        };
        let csv = usage_csv(&[record], &|_| "lab/a,b".to_string());
        assert_eq!(
            csv,
            "day,project,user,class,cpu_hours,memory_gib_hours,gpu_hours,wall_hours\n\
             2026-11-29,\"lab/a,b\",ann,small,1.5000,3.0000,0.0000,1.5000\n"
        );
    }
}
