//! Human output: aligned tables and fields, dates, and `--json`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::Failure;

/// Prints `value` as pretty JSON.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| Failure::runtime(format!("cannot render JSON: {error}")))?;
    println!("{text}");
    Ok(())
}

/// A table printed with aligned columns.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Returns an empty table with these column headers.
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it has one cell per header.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// Renders the table; an empty one is `empty` alone.
    pub fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("{empty}\n");
        }
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            text.push_str(line.join("  ").trim_end());
            text.push('\n');
        }
        text
    }

    /// Prints the table; an empty one prints `empty` alone.
    pub fn print(&self, empty: &str) {
        print!("{}", self.render(empty));
    }
}

/// Prints `label  value` lines with the values aligned.
pub fn print_fields(fields: &[(&str, String)]) {
    let width = fields
        .iter()
        .map(|(label, _)| label.chars().count() + 1)
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        let label = format!("{label}:");
        println!("{label:<width$}  {value}");
    }
}

/// Returns a progress bar of `size` bytes on stderr (`{what} [====>  ] 3 MiB/9 MiB (…/s)
/// {message}`), or a hidden one when stderr is not a terminal.
pub fn transfer_bar(what: &str, size: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size).with_style(transfer_style());
    bar.set_prefix(what.to_string());
    bar
}

fn transfer_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}) {wide_msg}",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

/// Returns `yes` or `no`.
pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

/// Returns a time (ms since the epoch) as local `YYYY-MM-DD HH:MM`.
pub fn time(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(time) | chrono::LocalResult::Ambiguous(time, _) => {
            time.format("%Y-%m-%d %H:%M").to_string()
        }
        chrono::LocalResult::None => ms.to_string(),
    }
}

/// Returns an optional time, or `none` when absent.
pub fn optional_time(ms: Option<i64>, none: &str) -> String {
    ms.map_or_else(|| none.to_string(), time)
}

/// Returns `text`, or `-` when it is empty.
pub fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_bars_have_a_valid_style() {
        // Only terminals see the bar: check its template here.
        let bar = ProgressBar::hidden().with_style(transfer_style());
        bar.inc(3);
        assert_eq!(bar.position(), 3);
    }

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut table = Table::new(&["NAME", "ROLE"]);
        table.row(vec!["alice".into(), "owner".into()]);
        table.row(vec!["bo".into(), "".into()]);
        assert_eq!(table.render("none"), "NAME   ROLE\nalice  owner\nbo\n");
        assert_eq!(Table::new(&["NAME"]).render("no users"), "no users\n");
    }
}
