//! SQL built at run time for the tracking and registry stores: the searches (MLflow's
//! filters compiled to `EXISTS` subqueries and comparisons, orderings with MLflow's
//! null/NaN placement) and their keyset page tokens. Pure text and bind values, no I/O:
//! the backends run it, so it is written once for both dialects, which differ only in
//! case-sensitive `LIKE` (SQLite has `GLOB`), `ILIKE`, and the write-transaction start.
//!
//! Page tokens are base64 JSON holding the sort-key values of the last row returned and a
//! fingerprint of the query, so a token is refused by any other query and ties never
//! repeat or skip rows (every ordering ends with a unique key).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::filter::{
    self, invalid, Clause, EntityType, ModelClause, RegisteredModelOrder, RunOrderBy, Value,
};
use super::{ExperimentSearch, LoggedModelSearch, RunSearch};
use crate::registry::RegistrySearch;
use crate::{StoreError, StoreResult};

/// The two SQL dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

impl Dialect {
    /// The statement that starts a transaction which will write: SQLite takes the write
    /// lock at once, so a transaction never fails to upgrade a read lock midway.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// Ends a subquery the planner must keep as written: PostgreSQL neither flattens nor
    /// turns into a join a subquery with `OFFSET` (so an `EXISTS` stays a probe per row, and
    /// a `LATERAL` lookup keeps its side of the join); SQLite already runs them so.
    pub(crate) fn fence(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " OFFSET 0",
        }
    }

    /// `NULL` as a value of a column of type `kind` (PostgreSQL types an untyped `NULL` as
    /// text).
    fn null(self, kind: &str) -> String {
        match self {
            Dialect::Sqlite => "NULL".to_string(),
            Dialect::Postgres => format!("CAST(NULL AS {kind})"),
        }
    }

    /// `FROM` text joining `runs r` to the rows of `outer` (an alias whose `run_id` names a
    /// run), which the join must read first: SQLite keeps a `CROSS JOIN`'s order, PostgreSQL
    /// a fenced `LATERAL` lookup's.
    fn runs_after(self, outer: &str) -> String {
        match self {
            Dialect::Sqlite => "CROSS JOIN runs r".to_string(),
            Dialect::Postgres => format!(
                "CROSS JOIN LATERAL (SELECT * FROM runs x WHERE x.id = {outer}.run_id OFFSET 0) r"
            ),
        }
    }

    /// Settings a run search's statements run with, in a transaction of their own: on
    /// PostgreSQL a sort of every candidate row is the last resort, so a plan reads a
    /// metric's index in order (and stops at the page's end) even when the table's
    /// statistics are stale — right after a fast fill, before autoanalyze. (The cost that
    /// setting adds to a sort it cannot avoid would otherwise switch on JIT compilation:
    /// 300 ms.)
    pub(crate) fn run_search_settings(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &[],
            Dialect::Postgres => &["SET LOCAL enable_sort = off", "SET LOCAL jit = off"],
        }
    }

    /// Returns `sql` as this dialect runs large statements best. SQLite gets anonymous `?`
    /// placeholders in textual order (a value bound twice is repeated): sqlx binds numbered
    /// ones (`$N`) by asking SQLite each parameter's name, which scans every name, so a
    /// statement of n parameters cost O(n²) — 20 ms for a 1000-point log-batch.
    /// PostgreSQL keeps `$N`.
    pub(crate) fn finish(self, sql: Sql) -> Sql {
        match self {
            Dialect::Sqlite => sql.positional(),
            Dialect::Postgres => sql,
        }
    }
}

/// One bound value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Float(f64),
    Bool(bool),
}

impl From<&str> for Bind {
    fn from(value: &str) -> Self {
        Bind::Text(value.to_string())
    }
}

impl From<String> for Bind {
    fn from(value: String) -> Self {
        Bind::Text(value)
    }
}

impl From<&String> for Bind {
    fn from(value: &String) -> Self {
        Bind::Text(value.clone())
    }
}

impl From<Option<&str>> for Bind {
    fn from(value: Option<&str>) -> Self {
        Bind::OptText(value.map(str::to_string))
    }
}

impl From<Option<String>> for Bind {
    fn from(value: Option<String>) -> Self {
        Bind::OptText(value)
    }
}

impl From<i64> for Bind {
    fn from(value: i64) -> Self {
        Bind::Int(value)
    }
}

impl From<Option<i64>> for Bind {
    fn from(value: Option<i64>) -> Self {
        Bind::OptInt(value)
    }
}

impl From<f64> for Bind {
    fn from(value: f64) -> Self {
        Bind::Float(value)
    }
}

impl From<bool> for Bind {
    fn from(value: bool) -> Self {
        Bind::Bool(value)
    }
}

/// SQL text with `$N` placeholders and the values they stand for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Sql {
            text: text.into(),
            binds: Vec::new(),
        }
    }

    /// Adds a value and returns its placeholder (`$N`), to splice into text anywhere.
    pub(crate) fn bind(&mut self, value: impl Into<Bind>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// The same statement with anonymous `?` placeholders in textual order, each taking a
    /// copy of the value its `$N` stood for. Quoted literals and identifiers are kept.
    pub(crate) fn positional(&self) -> Sql {
        let mut text = String::with_capacity(self.text.len());
        let mut binds = Vec::with_capacity(self.binds.len());
        let mut quote: Option<char> = None;
        let mut chars = self.text.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            match (quote, c) {
                (Some(open), c) if c == open => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '$') => {
                    let mut number = 0usize;
                    let mut digits = 0;
                    while let Some(&(_, digit)) = chars.peek() {
                        let Some(value) = digit.to_digit(10) else {
                            break;
                        };
                        number = number * 10 + value as usize;
                        digits += 1;
                        chars.next();
                    }
                    match self.binds.get(number.wrapping_sub(1)) {
                        Some(bind) if digits > 0 => {
                            text.push('?');
                            binds.push(bind.clone());
                        }
                        _ => {
                            text.push('$');
                            if digits > 0 {
                                text.push_str(&number.to_string());
                            }
                        }
                    }
                    continue;
                }
                (None, _) => {}
            }
            text.push(c);
        }
        Sql { text, binds }
    }

    /// `(p1, p2, …)` for a non-empty list.
    pub(crate) fn list<T: Into<Bind> + Clone>(&mut self, values: &[T]) -> String {
        let placeholders: Vec<String> = values
            .iter()
            .map(|value| self.bind(value.clone()))
            .collect();
        format!("({})", placeholders.join(", "))
    }
}

/// Builds sqlx arguments from bind values.
pub(crate) fn arguments<'q, DB>(
    binds: &'q [Bind],
) -> StoreResult<<DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    use sqlx::Arguments as _;
    let mut arguments = <DB as sqlx::Database>::Arguments::<'q>::default();
    for bind in binds {
        let added = match bind {
            Bind::Text(text) => arguments.add(text.as_str()),
            Bind::OptText(text) => arguments.add(text.as_deref()),
            Bind::Int(value) => arguments.add(*value),
            Bind::OptInt(value) => arguments.add(*value),
            Bind::Float(value) => arguments.add(*value),
            Bind::Bool(value) => arguments.add(*value),
        };
        added.map_err(StoreError::Backend)?;
    }
    Ok(arguments)
}

// ---------------------------------------------------------------------------------------
// Text comparisons

/// Turns a `LIKE` pattern (`%`, `_`, `\` escapes) into a `GLOB` pattern, which SQLite
/// matches case-sensitively as PostgreSQL's `LIKE` does.
pub(crate) fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let literal = match c {
            '%' => {
                glob.push('*');
                continue;
            }
            '_' => {
                glob.push('?');
                continue;
            }
            '\\' => chars.next().unwrap_or('\\'),
            other => other,
        };
        match literal {
            '*' | '?' | '[' => {
                glob.push('[');
                glob.push(literal);
                glob.push(']');
            }
            other => glob.push(other),
        }
    }
    glob
}

/// Escapes a trailing lone backslash, which would make PostgreSQL's `LIKE` fail.
fn like_pattern(pattern: &str) -> String {
    let trailing = pattern.chars().rev().take_while(|c| *c == '\\').count();
    if trailing % 2 == 1 {
        format!("{pattern}\\")
    } else {
        pattern.to_string()
    }
}

/// Appends `column <comparator> value` for a string comparison.
/// `hashed`: on PostgreSQL, equality also compares `md5(column)`, which the
/// `(key, md5(value))` indexes serve.
fn text_comparison(
    sql: &mut Sql,
    dialect: Dialect,
    column: &str,
    comparator: &str,
    value: &Value,
    hashed: bool,
) -> StoreResult<String> {
    let text = |value: &Value| match value {
        Value::Text(text) => Ok(text.clone()),
        other => Err(invalid(format!("Expected a string value, got {other:?}"))),
    };
    Ok(match comparator {
        "=" => {
            let placeholder = sql.bind(text(value)?);
            if hashed && dialect == Dialect::Postgres {
                format!("({column} = {placeholder} AND md5({column}) = md5({placeholder}))")
            } else {
                format!("{column} = {placeholder}")
            }
        }
        "!=" => format!("{column} != {}", sql.bind(text(value)?)),
        "LIKE" => match dialect {
            Dialect::Sqlite => format!("{column} GLOB {}", sql.bind(like_to_glob(&text(value)?))),
            Dialect::Postgres => format!("{column} LIKE {}", sql.bind(like_pattern(&text(value)?))),
        },
        "ILIKE" => match dialect {
            Dialect::Sqlite => format!(
                "{column} LIKE {} ESCAPE '\\'",
                sql.bind(like_pattern(&text(value)?))
            ),
            Dialect::Postgres => {
                format!("{column} ILIKE {}", sql.bind(like_pattern(&text(value)?)))
            }
        },
        "IN" | "NOT IN" => {
            let Value::List(items) = value else {
                return Err(invalid(format!("Expected a list for {comparator}")));
            };
            format!("{column} {comparator} {}", sql.list(items))
        }
        other => return Err(invalid(format!("Invalid comparator '{other}'"))),
    })
}

fn numeric_operator(comparator: &str) -> StoreResult<&'static str> {
    Ok(match comparator {
        "=" => "=",
        "!=" => "!=",
        "<" => "<",
        "<=" => "<=",
        ">" => ">",
        ">=" => ">=",
        other => return Err(invalid(format!("Invalid comparator '{other}'"))),
    })
}

fn numeric_comparison(
    sql: &mut Sql,
    column: &str,
    comparator: &str,
    value: &Value,
) -> StoreResult<String> {
    let operator = numeric_operator(comparator)?;
    let placeholder = match value {
        Value::Int(value) => sql.bind(*value),
        Value::Float(value) => sql.bind(*value),
        other => return Err(invalid(format!("Expected a number, got {other:?}"))),
    };
    Ok(format!("{column} {operator} {placeholder}"))
}

// ---------------------------------------------------------------------------------------
// Keysets and page tokens

/// The type of a sort key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Int,
    Float,
    Text,
}

/// One sort key: a column of the derived table `s`, its type and direction, and for
/// nullable keys an SQL rank (0 = has a value, then NaN, then missing) sorted first,
/// ascending, whatever the direction.
#[derive(Clone, Debug)]
pub(crate) struct KeyColumn {
    pub(crate) column: String,
    pub(crate) kind: KeyKind,
    pub(crate) ascending: bool,
    pub(crate) rank: Option<String>,
}

/// One key of a page token: the rank and the value of the last row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum KeyValue {
    #[serde(rename = "i")]
    Int(i64),
    /// The bits of an `f64` (JSON cannot carry infinities).
    #[serde(rename = "f")]
    Float(u64),
    #[serde(rename = "s")]
    Text(String),
    #[serde(rename = "n")]
    Null,
}

#[derive(Serialize, Deserialize)]
struct TokenBody {
    /// The fingerprint of the query the token belongs to.
    q: String,
    /// `(rank, value)` per sort key.
    k: Vec<(i64, KeyValue)>,
}

/// Encodes a page token.
pub(crate) fn encode_token(fingerprint: &str, keys: Vec<(i64, KeyValue)>) -> String {
    let body = TokenBody {
        q: fingerprint.to_string(),
        k: keys,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Decodes a page token and checks that it belongs to this query.
pub(crate) fn decode_token(
    token: &str,
    fingerprint: &str,
    keys: usize,
) -> StoreResult<Vec<(i64, KeyValue)>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| invalid("Invalid page token, could not base64-decode"))?;
    let body: TokenBody = serde_json::from_slice(&bytes).map_err(|_| {
        invalid(format!(
            "Invalid page token, decoded value={}",
            String::from_utf8_lossy(&bytes)
        ))
    })?;
    if body.q != fingerprint || body.k.len() != keys {
        return Err(invalid(
            "Invalid page token: it belongs to a search with other parameters",
        ));
    }
    Ok(body.k)
}

/// A stable 64-bit FNV-1a digest of a query's description, in hex.
pub(crate) fn fingerprint(description: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in description.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The sort keys of a search; together they order rows totally.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keyset {
    pub(crate) columns: Vec<KeyColumn>,
}

impl Keyset {
    fn push(
        &mut self,
        column: impl Into<String>,
        kind: KeyKind,
        ascending: bool,
        rank: Option<String>,
    ) {
        self.columns.push(KeyColumn {
            column: column.into(),
            kind,
            ascending,
            rank,
        });
    }

    /// The outer `SELECT` list: every key and its rank as `r{i}`.
    fn select(&self) -> String {
        let mut parts = Vec::new();
        for (index, key) in self.columns.iter().enumerate() {
            parts.push(format!("s.{}", key.column));
            if let Some(rank) = &key.rank {
                parts.push(format!("CAST({rank} AS BIGINT) AS r{index}"));
            }
        }
        parts.join(", ")
    }

    fn order_by(&self) -> String {
        self.order_by_within(false, false)
    }

    /// The `ORDER BY` list; `first_rank_fixed` leaves out the first key's rank, and
    /// `first_value_fixed` its value, for a statement whose rows all share them (an index
    /// can then give the order).
    fn order_by_within(&self, first_rank_fixed: bool, first_value_fixed: bool) -> String {
        let mut parts = Vec::new();
        for (index, key) in self.columns.iter().enumerate() {
            if let Some(rank) = &key.rank {
                if !(first_rank_fixed && index == 0) {
                    parts.push(format!("{rank} ASC"));
                }
            }
            if first_value_fixed && index == 0 {
                continue;
            }
            parts.push(format!(
                "s.{} {}",
                key.column,
                if key.ascending { "ASC" } else { "DESC" }
            ));
        }
        parts.join(", ")
    }

    /// The condition "comes after the token's row" in this order.
    fn after(&self, sql: &mut Sql, token: &[(i64, KeyValue)]) -> StoreResult<String> {
        let mut alternatives = Vec::new();
        let mut equal_so_far: Vec<String> = Vec::new();
        for (key, (rank, value)) in self.columns.iter().zip(token) {
            let column = format!("s.{}", key.column);
            let operator = if key.ascending { ">" } else { "<" };
            let bound = |sql: &mut Sql| -> StoreResult<String> {
                Ok(match (key.kind, value) {
                    (KeyKind::Int, KeyValue::Int(value)) => sql.bind(*value),
                    (KeyKind::Float, KeyValue::Float(bits)) => sql.bind(f64::from_bits(*bits)),
                    (KeyKind::Text, KeyValue::Text(text)) => sql.bind(text.clone()),
                    _ => {
                        return Err(invalid(
                            "Invalid page token: it belongs to a search with other parameters",
                        ))
                    }
                })
            };
            let (strictly_after, equal) = match &key.rank {
                None => {
                    let placeholder = bound(sql)?;
                    (
                        format!("{column} {operator} {placeholder}"),
                        format!("{column} = {placeholder}"),
                    )
                }
                Some(rank_sql) if *rank == 0 => {
                    let placeholder = bound(sql)?;
                    (
                        format!(
                            "({rank_sql} > 0 OR ({rank_sql} = 0 AND {column} {operator} {placeholder}))"
                        ),
                        format!("({rank_sql} = 0 AND {column} = {placeholder})"),
                    )
                }
                // Rows without a value (or NaN) tie on the value: only the rank orders them.
                Some(rank_sql) => (
                    format!("{rank_sql} > {rank}"),
                    format!("{rank_sql} = {rank}"),
                ),
            };
            let mut alternative = equal_so_far.clone();
            alternative.push(strictly_after);
            alternatives.push(format!("({})", alternative.join(" AND ")));
            equal_so_far.push(equal);
        }
        Ok(format!("({})", alternatives.join(" OR ")))
    }

    /// Reads the keys of a result row, for the next page token.
    pub(crate) fn row_keys<R>(&self, row: &R) -> StoreResult<Vec<(i64, KeyValue)>>
    where
        R: sqlx::Row,
        for<'a> &'a str: sqlx::ColumnIndex<R>,
        for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        let mut keys = Vec::with_capacity(self.columns.len());
        for (index, key) in self.columns.iter().enumerate() {
            let rank = match &key.rank {
                Some(_) => row.try_get::<i64, _>(format!("r{index}").as_str())?,
                None => 0,
            };
            let column = key.column.as_str();
            let value = match key.kind {
                KeyKind::Int => row
                    .try_get::<Option<i64>, _>(column)?
                    .map_or(KeyValue::Null, KeyValue::Int),
                KeyKind::Float => match row.try_get::<Option<f64>, _>(column) {
                    Ok(value) => {
                        value.map_or(KeyValue::Null, |value| KeyValue::Float(value.to_bits()))
                    }
                    // SQLite may hand back an integral REAL as an integer.
                    Err(_) => row
                        .try_get::<Option<i64>, _>(column)?
                        .map_or(KeyValue::Null, |value| {
                            KeyValue::Float((value as f64).to_bits())
                        }),
                },
                KeyKind::Text => row
                    .try_get::<Option<String>, _>(column)?
                    .map_or(KeyValue::Null, KeyValue::Text),
            };
            keys.push((rank, value));
        }
        Ok(keys)
    }
}

/// A search ready to run: fetch `limit + 1` rows; if there are more than `limit`, the
/// keys of row `limit` make the next page token.
#[derive(Debug)]
pub(crate) struct SearchPlan {
    pub(crate) sql: Sql,
    /// Statements whose rows follow `sql`'s, run in turn while fewer than `limit + 1` rows
    /// are found (a run search ordered by a metric: the runs with a value, with NaN, then
    /// without the metric).
    pub(crate) then: Vec<Sql>,
    /// Run first, in the statements' transaction ([`Dialect::run_search_settings`]).
    pub(crate) settings: &'static [&'static str],
    pub(crate) keyset: Keyset,
    pub(crate) fingerprint: String,
    pub(crate) limit: usize,
}

impl SearchPlan {
    /// Cuts the fetched rows (`limit + 1` at most) to this page, reads each row's key with
    /// `key`, and makes the next page token from the last row kept when more rows follow.
    pub(crate) fn page<R, K>(
        &self,
        rows: &[R],
        key: impl Fn(&R) -> Result<K, sqlx::Error>,
    ) -> StoreResult<(Vec<K>, Option<String>)>
    where
        R: sqlx::Row,
        for<'a> &'a str: sqlx::ColumnIndex<R>,
        for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        let more = rows.len() > self.limit;
        let rows = &rows[..rows.len().min(self.limit)];
        let keys = rows
            .iter()
            .map(key)
            .collect::<Result<Vec<K>, sqlx::Error>>()?;
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => {
                Some(encode_token(&self.fingerprint, self.keyset.row_keys(last)?))
            }
            _ => None,
        };
        Ok((keys, next_page_token))
    }
}

fn finish_plan(
    mut sql: Sql,
    ids: &str,
    inner: &str,
    keyset: Keyset,
    fingerprint: String,
    page_token: Option<&str>,
    limit: i64,
) -> StoreResult<SearchPlan> {
    let token = match page_token.filter(|token| !token.is_empty()) {
        Some(token) => Some(decode_token(token, &fingerprint, keyset.columns.len())?),
        None => None,
    };
    let mut text = format!("SELECT {ids}, {} FROM ({inner}) s", keyset.select());
    if let Some(token) = token {
        let after = keyset.after(&mut sql, &token)?;
        text.push_str(&format!(" WHERE {after}"));
    }
    text.push_str(&format!(
        " ORDER BY {} LIMIT {}",
        keyset.order_by(),
        limit + 1
    ));
    sql.text = text;
    let limit = usize::try_from(limit).map_err(|_| invalid("max_results is out of range"))?;
    Ok(SearchPlan {
        sql,
        then: Vec::new(),
        settings: &[],
        keyset,
        fingerprint,
        limit,
    })
}

fn positive_max_results(max_results: i64, threshold: i64) -> StoreResult<i64> {
    if max_results < 1 {
        return Err(invalid(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be a \
             positive integer"
        )));
    }
    if max_results > threshold {
        return Err(invalid(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be at \
             most {threshold}"
        )));
    }
    Ok(max_results)
}

fn stages_sql(view: plinth_types::ViewType) -> String {
    let stages: Vec<String> = view
        .stages()
        .iter()
        .map(|stage| format!("'{}'", stage.as_str()))
        .collect();
    format!("({})", stages.join(", "))
}

fn ids_condition(sql: &mut Sql, column: &str, ids: &[i64]) -> String {
    if ids.is_empty() {
        "1 = 0".to_string()
    } else {
        format!("{column} IN {}", sql.list(ids))
    }
}

// ---------------------------------------------------------------------------------------
// Search runs

const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

fn run_clause(sql: &mut Sql, dialect: Dialect, clause: &Clause) -> StoreResult<String> {
    let comparator = clause.comparator.as_str();
    Ok(match clause.entity {
        EntityType::Metric => {
            let key = sql.bind(clause.key.clone());
            let operator = numeric_operator(comparator)?;
            let Value::Float(value) = clause.value else {
                return Err(invalid("Expected numeric value type for metric."));
            };
            let value = sql.bind(value);
            // NaN is stored as 0 with is_nan: it satisfies only `!=`.
            let condition = if comparator == "!=" {
                format!("(m.value != {value} OR m.is_nan = TRUE)")
            } else {
                format!("m.value {operator} {value} AND m.is_nan = FALSE")
            };
            format!(
                "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_id = r.id AND m.key = {key} AND {condition}{})",
                dialect.fence()
            )
        }
        EntityType::Param | EntityType::Tag => {
            let table = if clause.entity == EntityType::Param {
                "params"
            } else {
                "run_tags"
            };
            let key = sql.bind(clause.key.clone());
            let exists = format!("SELECT 1 FROM {table} p WHERE p.run_id = r.id AND p.key = {key}");
            let fence = dialect.fence();
            match comparator {
                "IS NULL" => format!("NOT EXISTS ({exists}{fence})"),
                "IS NOT NULL" => format!("EXISTS ({exists}{fence})"),
                _ => {
                    let condition =
                        text_comparison(sql, dialect, "p.value", comparator, &clause.value, true)?;
                    format!("EXISTS ({exists} AND {condition}{fence})")
                }
            }
        }
        EntityType::Attribute => match filter::translate_key_alias(&clause.key) {
            "start_time" => numeric_comparison(sql, "r.start_time", comparator, &clause.value)?,
            "end_time" => numeric_comparison(sql, "r.end_time", comparator, &clause.value)?,
            key => {
                let column = match key {
                    "run_id" => "r.id",
                    "run_name" => "r.name",
                    "status" => "r.status",
                    "user_id" => "r.user_id",
                    "artifact_uri" => "r.artifact_uri",
                    other => return Err(invalid(format!("Invalid attribute key '{other}'"))),
                };
                text_comparison(sql, dialect, column, comparator, &clause.value, false)?
            }
        },
        EntityType::Dataset => {
            if clause.key == "context" {
                let key = sql.bind(DATASET_CONTEXT_TAG);
                let condition =
                    text_comparison(sql, dialect, "t.value", comparator, &clause.value, false)?;
                format!(
                    "EXISTS (SELECT 1 FROM inputs i JOIN input_tags t ON t.input_id = i.id \
                     WHERE i.run_id = r.id AND t.key = {key} AND {condition}{})",
                    dialect.fence()
                )
            } else {
                let column = if clause.key == "name" {
                    "d.name"
                } else {
                    "d.digest"
                };
                let condition =
                    text_comparison(sql, dialect, column, comparator, &clause.value, false)?;
                format!(
                    "EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.id = i.dataset_id \
                     WHERE i.run_id = r.id AND {condition}{})",
                    dialect.fence()
                )
            }
        }
    })
}

/// A filter clause drives a run search (its index lists the matching runs, which are then
/// sorted) when it matches fewer runs than this; otherwise the search walks the runs in
/// the requested order and tests each, stopping at the page's end. Walking costs about one
/// index probe per run passed over, `page × runs ÷ matches`; driving one lookup and a sort
/// per match. At this bound both stay within tens of milliseconds up to 1M runs.
pub(crate) const RUN_DRIVER_CAP: i64 = 5_000;

static DRIVER_CAP: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(RUN_DRIVER_CAP);

/// The bound in force: [`RUN_DRIVER_CAP`] unless a test moved it.
pub(crate) fn run_driver_cap() -> i64 {
    DRIVER_CAP.load(std::sync::atomic::Ordering::Relaxed)
}

/// For the conformance suite: 0 makes every search walk, `i64::MAX` makes every indexed
/// clause drive, so both plans run on its small fixtures (both return the same rows, so
/// other tests in the process are unaffected).
#[cfg(any(test, feature = "testsuite"))]
pub(crate) fn set_run_driver_cap(cap: i64) {
    DRIVER_CAP.store(cap, std::sync::atomic::Ordering::Relaxed);
}

/// The subquery listing the runs of the searched experiments that a clause matches, from
/// the clause's `(experiment_id, key, value)` index, when an index can answer it alone: a
/// metric compared with `=`, `<`, `<=`, `>`, `>=`, a param or tag compared with `=`.
fn run_driver(
    sql: &mut Sql,
    dialect: Dialect,
    clause: &Clause,
    experiment_ids: &[i64],
) -> StoreResult<Option<String>> {
    if experiment_ids.is_empty() {
        return Ok(None);
    }
    let comparator = clause.comparator.as_str();
    Ok(match clause.entity {
        EntityType::Metric if comparator != "!=" => {
            let Value::Float(value) = clause.value else {
                return Ok(None);
            };
            let operator = numeric_operator(comparator)?;
            let experiments = sql.list(experiment_ids);
            let key = sql.bind(clause.key.clone());
            let value = sql.bind(value);
            Some(format!(
                "SELECT d.run_id FROM latest_metrics d WHERE d.experiment_id IN {experiments} \
                 AND d.key = {key} AND d.is_nan = FALSE AND d.value {operator} {value}"
            ))
        }
        EntityType::Param | EntityType::Tag if comparator == "=" => {
            let table = if clause.entity == EntityType::Param {
                "params"
            } else {
                "run_tags"
            };
            let experiments = sql.list(experiment_ids);
            let key = sql.bind(clause.key.clone());
            let condition =
                text_comparison(sql, dialect, "d.value", comparator, &clause.value, true)?;
            Some(format!(
                "SELECT d.run_id FROM {table} d WHERE d.experiment_id IN {experiments} \
                 AND d.key = {key} AND {condition}"
            ))
        }
        _ => None,
    })
}

/// The probes that choose how a run search runs: for each filter clause an index can
/// answer alone (by position in the filter), a statement counting the runs it matches, up
/// to [`run_driver_cap`]. The clause with the fewest matches under the cap drives the
/// search ([`run_search`]'s `driver`).
pub(crate) fn run_search_probes(
    dialect: Dialect,
    search: &RunSearch,
) -> StoreResult<Vec<(usize, Sql)>> {
    let clauses = match search.filter.as_deref() {
        Some(filter) => filter::parse_run_filter(filter)?,
        None => Vec::new(),
    };
    let mut probes = Vec::new();
    for (index, clause) in clauses.iter().enumerate() {
        let mut sql = Sql::default();
        if let Some(driver) = run_driver(&mut sql, dialect, clause, &search.experiment_ids)? {
            sql.text = format!(
                "SELECT COUNT(*) FROM ({driver} LIMIT {}) c",
                run_driver_cap()
            );
            probes.push((index, sql));
        }
    }
    Ok(probes)
}

/// Which rows of a run search ordered first by a metric one statement reads: all of them,
/// or only those with a value, with NaN, or without the metric (in that order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunStage {
    All,
    Valued,
    Nan,
    Missing,
}

impl RunStage {
    /// The first sort key's rank its rows share.
    fn rank(self) -> i64 {
        match self {
            RunStage::All | RunStage::Valued => 0,
            RunStage::Nan => 1,
            RunStage::Missing => 2,
        }
    }
}

/// Compiles a search-runs request; the rows hold `kid` (the run id) and the sort keys.
///
/// `driver`: the filter clause (by position) whose index lists the candidate runs (see
/// [`run_search_probes`]). Without one, the search walks the runs in order: by
/// `runs (experiment_id, lifecycle_stage, start_time DESC, id)` for the default order, and
/// for an order by a metric in three statements — the runs with a value, read in value
/// order from `latest_metrics (experiment_id, key, is_nan, value)`, then those with NaN,
/// then those without the metric — each stopping at the page's end.
pub(crate) fn run_search(
    dialect: Dialect,
    project_id: &str,
    search: &RunSearch,
    driver: Option<usize>,
) -> StoreResult<SearchPlan> {
    let limit = positive_max_results(search.max_results, super::MAX_RUNS_PER_PAGE)?;
    let clauses = match search.filter.as_deref() {
        Some(filter) => filter::parse_run_filter(filter)?,
        None => Vec::new(),
    };
    let orders = filter::parse_run_order_by(&search.order_by)?;
    let fingerprint = fingerprint(&format!(
        "runs\0{project_id}\0{:?}\0{:?}\0{:?}\0{}",
        search.experiment_ids,
        search.filter,
        search.order_by,
        search.run_view_type.as_str()
    ));
    let driver = driver.filter(|index| *index < clauses.len());
    let staged = driver.is_none()
        && orders
            .first()
            .is_some_and(|order| order.entity == EntityType::Metric)
        && !search.experiment_ids.is_empty();
    let stages: &[RunStage] = if staged {
        &[RunStage::Valued, RunStage::Nan, RunStage::Missing]
    } else {
        &[RunStage::All]
    };
    let mut token = None;
    let mut statements = Vec::new();
    let mut keyset = Keyset::default();
    for stage in stages {
        let (mut sql, inner, stage_keyset) = run_statement(
            dialect, project_id, search, &clauses, &orders, driver, *stage,
        )?;
        keyset = stage_keyset.clone();
        if token.is_none() {
            token = match search
                .page_token
                .as_deref()
                .filter(|token| !token.is_empty())
            {
                Some(text) => Some(decode_token(text, &fingerprint, keyset.columns.len())?),
                None => None,
            };
        }
        let first_rank = token
            .as_ref()
            .and_then(|keys: &Vec<(i64, KeyValue)>| keys.first())
            .map(|(rank, _)| *rank);
        let mut text = format!("SELECT s.kid, {} FROM ({inner}) s", stage_keyset.select());
        let resume_here = match (*stage, first_rank) {
            (RunStage::All, _) => token.is_some(),
            (_, Some(rank)) if rank > stage.rank() => continue,
            (_, Some(rank)) => rank == stage.rank(),
            (_, None) => false,
        };
        if let (true, Some(keys)) = (resume_here, token.as_ref()) {
            let mut after = stage_keyset.after(&mut sql, keys)?;
            // Lets the index start at the token's value instead of the first row.
            if let (RunStage::Valued, Some((_, KeyValue::Float(bits)))) = (*stage, keys.first()) {
                let operator = if orders[0].ascending { ">=" } else { "<=" };
                let value = sql.bind(f64::from_bits(*bits));
                after = format!("s.k0 {operator} {value} AND {after}");
            }
            text.push_str(&format!(" WHERE {after}"));
        }
        text.push_str(&format!(
            " ORDER BY {} LIMIT {}",
            stage_keyset.order_by_within(
                *stage != RunStage::All,
                matches!(stage, RunStage::Nan | RunStage::Missing)
            ),
            limit + 1
        ));
        sql.text = text;
        statements.push(sql);
    }
    let mut statements = statements.into_iter();
    let Some(sql) = statements.next() else {
        // The token points past every stage: an empty page.
        return Ok(SearchPlan {
            sql: Sql::new("SELECT NULL AS kid WHERE 1 = 0"),
            then: Vec::new(),
            settings: &[],
            keyset,
            fingerprint,
            limit: usize::try_from(limit).map_err(|_| invalid("max_results is out of range"))?,
        });
    };
    Ok(SearchPlan {
        sql,
        then: statements.collect(),
        settings: dialect.run_search_settings(),
        keyset,
        fingerprint,
        limit: usize::try_from(limit).map_err(|_| invalid("max_results is out of range"))?,
    })
}

/// One statement of a run search: its binds, the inner `SELECT` (the derived table `s`)
/// and the sort keys.
fn run_statement(
    dialect: Dialect,
    project_id: &str,
    search: &RunSearch,
    clauses: &[Clause],
    orders: &[RunOrderBy],
    driver: Option<usize>,
    stage: RunStage,
) -> StoreResult<(Sql, String, Keyset)> {
    let mut sql = Sql::default();
    let mut keyset = Keyset::default();
    let mut columns = vec!["r.id AS kid".to_string()];
    // `CROSS JOIN` keeps SQLite's join order: the driving table first.
    let mut from = String::new();
    let mut conditions = Vec::new();
    if let Some(index) = driver {
        let subquery = run_driver(&mut sql, dialect, &clauses[index], &search.experiment_ids)?
            .ok_or_else(|| invalid("the driving clause has no index"))?;
        from.push_str(&format!("({subquery}) d {}", dialect.runs_after("d")));
        conditions.push("r.id = d.run_id".to_string());
    }
    let mut joins = String::new();
    for (index, order) in orders.iter().enumerate() {
        let alias = format!("o{index}");
        let column = format!("k{index}");
        match order.entity {
            EntityType::Metric => {
                let key = sql.bind(order.key.clone());
                match (index, stage) {
                    (0, RunStage::Valued | RunStage::Nan) => {
                        let experiments = ids_condition(
                            &mut sql,
                            &format!("{alias}.experiment_id"),
                            &search.experiment_ids,
                        );
                        from.push_str(&format!(
                            "latest_metrics {alias} {}",
                            dialect.runs_after(&alias)
                        ));
                        conditions.push(format!("r.id = {alias}.run_id"));
                        conditions.push(experiments);
                        conditions.push(format!("{alias}.key = {key}"));
                        conditions.push(format!(
                            "{alias}.is_nan = {}",
                            if stage == RunStage::Nan {
                                "TRUE"
                            } else {
                                "FALSE"
                            }
                        ));
                    }
                    (0, RunStage::Missing) => {
                        // Walks the runs in order, probing each for the metric.
                        conditions.push(format!(
                            "NOT EXISTS (SELECT 1 FROM latest_metrics {alias} WHERE {alias}.run_id = r.id \
                             AND {alias}.key = {key}{})",
                            dialect.fence()
                        ));
                    }
                    _ => {
                        joins.push_str(&format!(
                            " LEFT JOIN latest_metrics {alias} ON {alias}.run_id = r.id AND {alias}.key = {key}"
                        ));
                    }
                }
                if index == 0 && stage == RunStage::Missing {
                    columns.push(format!("{} AS {column}", dialect.null("DOUBLE PRECISION")));
                    columns.push(format!("{} AS n{index}", dialect.null("BOOLEAN")));
                } else {
                    columns.push(format!("{alias}.value AS {column}"));
                    columns.push(format!("{alias}.is_nan AS n{index}"));
                }
                let rank = format!(
                    "CASE WHEN s.n{index} = TRUE THEN 1 WHEN s.{column} IS NULL THEN 2 ELSE 0 END"
                );
                keyset.push(column, KeyKind::Float, order.ascending, Some(rank));
            }
            EntityType::Param | EntityType::Tag => {
                let table = if order.entity == EntityType::Param {
                    "params"
                } else {
                    "run_tags"
                };
                let key = sql.bind(order.key.clone());
                joins.push_str(&format!(
                    " LEFT JOIN {table} {alias} ON {alias}.run_id = r.id AND {alias}.key = {key}"
                ));
                columns.push(format!("{alias}.value AS {column}"));
                let rank = format!("CASE WHEN s.{column} IS NULL THEN 1 ELSE 0 END");
                keyset.push(column, KeyKind::Text, order.ascending, Some(rank));
            }
            _ => {
                let RunOrderBy { key, ascending, .. } = order;
                let (expression, kind, nullable) = match key.as_str() {
                    "start_time" => ("r.start_time", KeyKind::Int, false),
                    "end_time" => ("r.end_time", KeyKind::Int, true),
                    "run_id" => ("r.id", KeyKind::Text, false),
                    "run_name" => ("r.name", KeyKind::Text, false),
                    "status" => ("r.status", KeyKind::Text, false),
                    "user_id" => ("r.user_id", KeyKind::Text, false),
                    "artifact_uri" => ("r.artifact_uri", KeyKind::Text, false),
                    other => return Err(invalid(format!("Invalid attribute key '{other}'"))),
                };
                columns.push(format!("{expression} AS {column}"));
                let rank =
                    nullable.then(|| format!("CASE WHEN s.{column} IS NULL THEN 1 ELSE 0 END"));
                keyset.push(column, kind, *ascending, rank);
            }
        }
    }
    if from.is_empty() {
        from.push_str("runs r");
    }
    let ordered_by_start = orders
        .iter()
        .any(|order| order.entity == EntityType::Attribute && order.key == "start_time");
    if !ordered_by_start {
        columns.push("r.start_time AS kst".to_string());
        keyset.push("kst", KeyKind::Int, false, None);
    }
    keyset.push("kid", KeyKind::Text, true, None);

    let project = sql.bind(project_id);
    conditions.push(format!("r.project_id = {project}"));
    conditions.push(ids_condition(
        &mut sql,
        "r.experiment_id",
        &search.experiment_ids,
    ));
    conditions.push(format!(
        "r.lifecycle_stage IN {}",
        stages_sql(search.run_view_type)
    ));
    for (index, clause) in clauses.iter().enumerate() {
        // The driving clause holds for every row the driver lists.
        if Some(index) != driver {
            conditions.push(run_clause(&mut sql, dialect, clause)?);
        }
    }
    let inner = format!(
        "SELECT {} FROM {from}{joins} WHERE {}",
        columns.join(", "),
        conditions.join(" AND ")
    );
    Ok((sql, inner, keyset))
}

// ---------------------------------------------------------------------------------------
// Search experiments

fn parse_experiment_id(text: &str) -> StoreResult<i64> {
    text.trim().parse::<i64>().map_err(|_| {
        invalid(format!(
            "Invalid experiment ID '{text}'. Experiment ID must be a valid integer."
        ))
    })
}

/// Compiles a search-experiments request; the rows hold `kid` (the experiment id).
pub(crate) fn experiment_search(
    dialect: Dialect,
    project_id: &str,
    search: &ExperimentSearch,
) -> StoreResult<SearchPlan> {
    let limit = positive_max_results(search.max_results, super::MAX_EXPERIMENTS_PER_PAGE)?;
    let clauses = match search.filter.as_deref() {
        Some(filter) => filter::parse_experiment_filter(filter)?,
        None => Vec::new(),
    };
    let order_by = if search.order_by.is_empty() {
        vec![
            "creation_time DESC".to_string(),
            "experiment_id ASC".to_string(),
        ]
    } else {
        search.order_by.clone()
    };
    let mut orders = filter::parse_experiment_order_by(&order_by)?;
    if !orders.iter().any(|(key, _)| key == "experiment_id") {
        orders.push(("experiment_id".to_string(), false));
    }
    let mut sql = Sql::default();
    let mut keyset = Keyset::default();
    let mut columns = vec!["e.id AS kid".to_string()];
    for (index, (key, ascending)) in orders.iter().enumerate() {
        let column = format!("k{index}");
        let (expression, kind) = match key.as_str() {
            "name" => ("e.name", KeyKind::Text),
            "experiment_id" => ("e.id", KeyKind::Int),
            "creation_time" => ("e.creation_time", KeyKind::Int),
            _ => ("e.last_update_time", KeyKind::Int),
        };
        columns.push(format!("{expression} AS {column}"));
        keyset.push(column, kind, *ascending, None);
    }
    let project = sql.bind(project_id);
    let mut conditions = vec![
        format!("e.project_id = {project}"),
        format!("e.lifecycle_stage IN {}", stages_sql(search.view_type)),
    ];
    for clause in &clauses {
        let comparator = clause.comparator.as_str();
        let condition = match clause.entity {
            EntityType::Attribute => match clause.key.as_str() {
                "experiment_id" => match &clause.value {
                    Value::List(items) => {
                        let ids = items
                            .iter()
                            .map(|item| parse_experiment_id(item))
                            .collect::<StoreResult<Vec<i64>>>()?;
                        format!("e.id {comparator} {}", sql.list(&ids))
                    }
                    Value::Text(text) => {
                        let id = parse_experiment_id(text)?;
                        format!("e.id {} {}", numeric_operator(comparator)?, sql.bind(id))
                    }
                    other => return Err(invalid(format!("Invalid experiment ID {other:?}"))),
                },
                "name" => text_comparison(
                    &mut sql,
                    dialect,
                    "e.name",
                    comparator,
                    &clause.value,
                    false,
                )?,
                key => {
                    let column = if key == "creation_time" {
                        "e.creation_time"
                    } else {
                        "e.last_update_time"
                    };
                    numeric_comparison(&mut sql, column, comparator, &clause.value)?
                }
            },
            _ => {
                let key = sql.bind(clause.key.clone());
                let exists = format!(
                    "SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.id AND t.key = {key}"
                );
                match comparator {
                    "IS NULL" => format!("NOT EXISTS ({exists})"),
                    "IS NOT NULL" => format!("EXISTS ({exists})"),
                    _ => {
                        let condition = text_comparison(
                            &mut sql,
                            dialect,
                            "t.value",
                            comparator,
                            &clause.value,
                            false,
                        )?;
                        format!("EXISTS ({exists} AND {condition})")
                    }
                }
            }
        };
        conditions.push(condition);
    }
    let inner = format!(
        "SELECT {} FROM experiments e WHERE {}",
        columns.join(", "),
        conditions.join(" AND ")
    );
    let fingerprint = fingerprint(&format!(
        "experiments\0{project_id}\0{:?}\0{:?}\0{}",
        search.filter,
        search.order_by,
        search.view_type.as_str()
    ));
    finish_plan(
        sql,
        "s.kid",
        &inner,
        keyset,
        fingerprint,
        search.page_token.as_deref(),
        limit,
    )
}

// ---------------------------------------------------------------------------------------
// Registry searches

pub(crate) const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

/// Whether a registry filter asks for prompts (MLflow hides them otherwise).
fn queries_prompts(clauses: &[Clause]) -> bool {
    clauses
        .iter()
        .find(|clause| clause.entity == EntityType::Tag && clause.key == PROMPT_TAG)
        .is_some_and(|clause| match &clause.value {
            Value::Text(value) => {
                (clause.comparator == "=" && value.eq_ignore_ascii_case("true"))
                    || (clause.comparator == "!=" && value.eq_ignore_ascii_case("false"))
            }
            _ => false,
        })
}

fn registry_max_results(max_results: i64, threshold: i64, versions: bool) -> StoreResult<i64> {
    if max_results < 1 {
        return Err(invalid(if versions {
            format!("Invalid value for max_results. It must be a positive integer, but got {max_results}")
        } else {
            format!(
                "Invalid value {max_results} for parameter 'max_results' supplied. It must be a \
                 positive integer"
            )
        }));
    }
    if max_results > threshold {
        return Err(invalid(format!(
            "Invalid value for request parameter max_results. It must be at most {threshold}, \
             but got value {max_results}"
        )));
    }
    Ok(max_results)
}

/// Compiles a search-registered-models request; rows hold `kid` (the model's row id).
pub(crate) fn registered_model_search(
    dialect: Dialect,
    project_id: &str,
    search: &RegistrySearch,
) -> StoreResult<SearchPlan> {
    let limit = registry_max_results(
        search.max_results,
        crate::registry::MAX_REGISTERED_MODELS_PER_PAGE,
        false,
    )?;
    let clauses = match search.filter.as_deref() {
        Some(filter) => filter::parse_registered_model_filter(filter)?,
        None => Vec::new(),
    };
    let mut orders = filter::parse_registered_model_order_by(&search.order_by)?;
    if !orders
        .iter()
        .any(|(column, _)| *column == RegisteredModelOrder::Name)
    {
        orders.push((RegisteredModelOrder::Name, true));
    }
    let mut sql = Sql::default();
    let mut keyset = Keyset::default();
    let mut columns = vec!["m.id AS kid".to_string()];
    for (index, (order, ascending)) in orders.iter().enumerate() {
        let column = format!("k{index}");
        let (expression, kind) = match order {
            RegisteredModelOrder::Name => ("m.name", KeyKind::Text),
            RegisteredModelOrder::CreationTime => ("m.creation_time", KeyKind::Int),
            RegisteredModelOrder::LastUpdatedTime => ("m.last_updated_time", KeyKind::Int),
        };
        columns.push(format!("{expression} AS {column}"));
        keyset.push(column, kind, *ascending, None);
    }
    let project = sql.bind(project_id);
    let mut conditions = vec![format!("m.project_id = {project}")];
    let prompts = queries_prompts(&clauses);
    for clause in &clauses {
        let comparator = clause.comparator.as_str();
        if clause.entity == EntityType::Attribute {
            conditions.push(text_comparison(
                &mut sql,
                dialect,
                "m.name",
                comparator,
                &clause.value,
                false,
            )?);
            continue;
        }
        if clause.key == PROMPT_TAG && !prompts {
            continue;
        }
        let key = sql.bind(clause.key.clone());
        let condition = text_comparison(
            &mut sql,
            dialect,
            "t.value",
            comparator,
            &clause.value,
            false,
        )?;
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.registered_model_id = m.id \
             AND t.key = {key} AND {condition})"
        ));
    }
    if !prompts {
        let key = sql.bind(PROMPT_TAG);
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.registered_model_id = m.id \
             AND t.key = {key} AND t.value = 'true')"
        ));
    }
    let inner = format!(
        "SELECT {} FROM registered_models m WHERE {}",
        columns.join(", "),
        conditions.join(" AND ")
    );
    let fingerprint = fingerprint(&format!(
        "registered_models\0{project_id}\0{:?}\0{:?}",
        search.filter, search.order_by
    ));
    finish_plan(
        sql,
        "s.kid",
        &inner,
        keyset,
        fingerprint,
        search.page_token.as_deref(),
        limit,
    )
}

/// Compiles a search-model-versions request; rows hold `kid` (the registered model's row
/// id) and `kver` (the version).
pub(crate) fn model_version_search(
    dialect: Dialect,
    project_id: &str,
    search: &RegistrySearch,
) -> StoreResult<SearchPlan> {
    let limit = registry_max_results(
        search.max_results,
        crate::registry::MAX_MODEL_VERSIONS_PER_PAGE,
        true,
    )?;
    let clauses = match search.filter.as_deref() {
        Some(filter) => filter::parse_model_version_filter(filter)?,
        None => Vec::new(),
    };
    let order_by = if search.order_by.is_empty() {
        vec![
            "last_updated_timestamp DESC".to_string(),
            "name ASC".to_string(),
            "version_number DESC".to_string(),
        ]
    } else {
        search.order_by.clone()
    };
    let mut orders = filter::parse_model_version_order_by(&order_by)?;
    if !orders.iter().any(|(key, _)| key == "name") {
        orders.push(("name".to_string(), true));
    }
    if !orders.iter().any(|(key, _)| key == "version_number") {
        orders.push(("version_number".to_string(), false));
    }
    let mut sql = Sql::default();
    let mut keyset = Keyset::default();
    let mut columns = vec![
        "mv.registered_model_id AS kid".to_string(),
        "mv.version AS kver".to_string(),
    ];
    for (index, (key, ascending)) in orders.iter().enumerate() {
        let column = format!("k{index}");
        let (expression, kind) = match key.as_str() {
            "name" => ("m.name", KeyKind::Text),
            "version_number" => ("mv.version", KeyKind::Int),
            "creation_timestamp" => ("mv.creation_time", KeyKind::Int),
            _ => ("mv.last_updated_time", KeyKind::Int),
        };
        columns.push(format!("{expression} AS {column}"));
        keyset.push(column, kind, *ascending, None);
    }
    let project = sql.bind(project_id);
    let mut conditions = vec![
        format!("m.project_id = {project}"),
        "mv.current_stage != 'Deleted_Internal'".to_string(),
    ];
    let prompts = queries_prompts(&clauses);
    for clause in &clauses {
        let comparator = clause.comparator.as_str();
        if clause.entity == EntityType::Attribute {
            let condition = match clause.key.as_str() {
                "version_number" => {
                    numeric_comparison(&mut sql, "mv.version", comparator, &clause.value)?
                }
                key => {
                    let column = match key {
                        "name" => "m.name",
                        "run_id" => "mv.run_id",
                        _ => "mv.source",
                    };
                    text_comparison(&mut sql, dialect, column, comparator, &clause.value, false)?
                }
            };
            conditions.push(condition);
            continue;
        }
        if clause.key == PROMPT_TAG && !prompts {
            continue;
        }
        let key = sql.bind(clause.key.clone());
        let condition = text_comparison(
            &mut sql,
            dialect,
            "t.value",
            comparator,
            &clause.value,
            false,
        )?;
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM model_version_tags t WHERE t.registered_model_id = mv.registered_model_id \
             AND t.version = mv.version AND t.key = {key} AND {condition})"
        ));
    }
    if !prompts {
        let key = sql.bind(PROMPT_TAG);
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM model_version_tags t WHERE t.registered_model_id = mv.registered_model_id \
             AND t.key = {key} AND t.value = 'true')"
        ));
    }
    let inner = format!(
        "SELECT {} FROM model_versions mv JOIN registered_models m ON m.id = mv.registered_model_id WHERE {}",
        columns.join(", "),
        conditions.join(" AND ")
    );
    let fingerprint = fingerprint(&format!(
        "model_versions\0{project_id}\0{:?}\0{:?}",
        search.filter, search.order_by
    ));
    finish_plan(
        sql,
        "s.kid, s.kver",
        &inner,
        keyset,
        fingerprint,
        search.page_token.as_deref(),
        limit,
    )
}

// ---------------------------------------------------------------------------------------
// Search logged models

fn dataset_condition(sql: &mut Sql, datasets: &[super::DatasetFilter]) -> Option<String> {
    if datasets.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = datasets
        .iter()
        .map(|dataset| {
            let name = sql.bind(dataset.dataset_name.clone());
            match &dataset.dataset_digest {
                Some(digest) => format!(
                    "(mm.dataset_name = {name} AND mm.dataset_digest = {})",
                    sql.bind(digest.clone())
                ),
                None => format!("mm.dataset_name = {name}"),
            }
        })
        .collect();
    Some(format!("({})", alternatives.join(" OR ")))
}

fn logged_model_clause(
    sql: &mut Sql,
    dialect: Dialect,
    clause: &ModelClause,
    datasets: &[super::DatasetFilter],
) -> StoreResult<String> {
    let comparator = clause.comparator.as_str();
    Ok(match clause.entity {
        EntityType::Attribute => match clause.key.as_str() {
            "creation_timestamp" => {
                numeric_comparison(sql, "lm.creation_timestamp", comparator, &clause.value)?
            }
            "last_updated_timestamp" => {
                numeric_comparison(sql, "lm.last_updated_timestamp", comparator, &clause.value)?
            }
            key => {
                let column = match key {
                    "name" => "lm.name",
                    "model_id" => "lm.id",
                    "model_type" => "lm.model_type",
                    "status" => "lm.status",
                    _ => "lm.source_run_id",
                };
                text_comparison(sql, dialect, column, comparator, &clause.value, false)?
            }
        },
        EntityType::Metric => {
            let key = sql.bind(clause.key.clone());
            let condition = numeric_comparison(sql, "mm.value", comparator, &clause.value)?;
            let nan = if comparator == "!=" {
                String::new()
            } else {
                " AND mm.is_nan = FALSE".to_string()
            };
            let on_datasets = dataset_condition(sql, datasets)
                .map(|condition| format!(" AND {condition}"))
                .unwrap_or_default();
            format!(
                "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = lm.id AND mm.key = {key} \
                 AND {condition}{nan}{on_datasets})"
            )
        }
        _ => {
            let table = if clause.entity == EntityType::Param {
                "logged_model_params"
            } else {
                "logged_model_tags"
            };
            let key = sql.bind(clause.key.clone());
            let condition =
                text_comparison(sql, dialect, "p.value", comparator, &clause.value, false)?;
            format!("EXISTS (SELECT 1 FROM {table} p WHERE p.model_id = lm.id AND p.key = {key} AND {condition})")
        }
    })
}

/// Compiles a search-logged-models request; rows hold `kid` (the model id).
pub(crate) fn logged_model_search(
    dialect: Dialect,
    project_id: &str,
    search: &LoggedModelSearch,
) -> StoreResult<SearchPlan> {
    let limit = positive_max_results(search.max_results, super::MAX_RUNS_PER_PAGE)?;
    if search
        .datasets
        .iter()
        .any(|dataset| dataset.dataset_name.is_empty())
    {
        return Err(invalid(
            "`dataset_name` in the `datasets` clause must be specified.",
        ));
    }
    let clauses = match search.filter.as_deref() {
        Some(filter) => filter::parse_logged_model_filter(filter)?,
        None => Vec::new(),
    };
    let mut sql = Sql::default();
    let mut keyset = Keyset::default();
    let mut columns = vec!["lm.id AS kid".to_string()];
    let mut has_creation = false;
    let mut has_id = false;
    for (index, order) in search.order_by.iter().enumerate() {
        let column = format!("k{index}");
        if let Some((entity, key)) = order.field_name.split_once('.') {
            if entity != "metrics" {
                return Err(invalid(format!(
                    "Invalid order by field name: {entity}, only `metrics.<name>` is allowed."
                )));
            }
            if order.dataset_digest.is_some() && order.dataset_name.is_none() {
                return Err(invalid(
                    "`dataset_digest` can only be specified if `dataset_name` is also specified.",
                ));
            }
            let key = sql.bind(key.to_string());
            let mut restrict = String::new();
            if let Some(name) = &order.dataset_name {
                restrict.push_str(&format!(
                    " AND mm.dataset_name = {}",
                    sql.bind(name.clone())
                ));
            }
            if let Some(digest) = &order.dataset_digest {
                restrict.push_str(&format!(
                    " AND mm.dataset_digest = {}",
                    sql.bind(digest.clone())
                ));
            }
            let latest = |what: &str| {
                format!(
                    "(SELECT mm.{what} FROM logged_model_metrics mm WHERE mm.model_id = lm.id AND mm.key = {key}{restrict} \
                     ORDER BY mm.timestamp DESC, mm.step DESC, mm.run_id ASC LIMIT 1)"
                )
            };
            columns.push(format!("{} AS {column}", latest("value")));
            columns.push(format!("{} AS n{index}", latest("is_nan")));
            let rank = format!(
                "CASE WHEN s.n{index} = TRUE THEN 1 WHEN s.{column} IS NULL THEN 2 ELSE 0 END"
            );
            keyset.push(column, KeyKind::Float, order.ascending, Some(rank));
            continue;
        }
        let name = filter::logged_model_attribute(order.field_name.trim());
        let (expression, kind, nullable) = match name {
            "creation_timestamp" => {
                has_creation = true;
                ("lm.creation_timestamp", KeyKind::Int, false)
            }
            "last_updated_timestamp" => ("lm.last_updated_timestamp", KeyKind::Int, false),
            "model_id" => {
                has_id = true;
                ("lm.id", KeyKind::Text, false)
            }
            "name" => ("lm.name", KeyKind::Text, false),
            "status" => ("lm.status", KeyKind::Text, false),
            "model_type" => ("lm.model_type", KeyKind::Text, true),
            "source_run_id" => ("lm.source_run_id", KeyKind::Text, true),
            _ => {
                return Err(invalid(format!(
                    "Invalid order by field name: {}.",
                    order.field_name
                )))
            }
        };
        columns.push(format!("{expression} AS {column}"));
        let rank = nullable.then(|| format!("CASE WHEN s.{column} IS NULL THEN 1 ELSE 0 END"));
        keyset.push(column, kind, order.ascending, rank);
    }
    if !has_creation {
        columns.push("lm.creation_timestamp AS kct".to_string());
        keyset.push("kct", KeyKind::Int, false, None);
    }
    if !has_id {
        keyset.push("kid", KeyKind::Text, true, None);
    }
    let project = sql.bind(project_id);
    let experiments = ids_condition(&mut sql, "lm.experiment_id", &search.experiment_ids);
    let mut conditions = vec![
        format!("lm.project_id = {project}"),
        experiments,
        "lm.lifecycle_stage = 'active'".to_string(),
    ];
    let mut has_metric_filter = false;
    for clause in &clauses {
        has_metric_filter |= clause.entity == EntityType::Metric;
        conditions.push(logged_model_clause(
            &mut sql,
            dialect,
            clause,
            &search.datasets,
        )?);
    }
    if !has_metric_filter {
        if let Some(condition) = dataset_condition(&mut sql, &search.datasets) {
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = lm.id AND {condition})"
            ));
        }
    }
    let inner = format!(
        "SELECT {} FROM logged_models lm WHERE {}",
        columns.join(", "),
        conditions.join(" AND ")
    );
    let fingerprint = fingerprint(&format!(
        "logged_models\0{project_id}\0{:?}\0{:?}\0{:?}\0{:?}",
        search.experiment_ids, search.filter, search.order_by, search.datasets
    ));
    finish_plan(
        sql,
        "s.kid",
        &inner,
        keyset,
        fingerprint,
        search.page_token.as_deref(),
        limit,
    )
}

// ---------------------------------------------------------------------------------------
// Metric history pages

/// The keys of the history order: `(step, timestamp, value, is_nan)`.
pub(crate) fn history_token(
    fingerprint: &str,
    step: i64,
    timestamp: i64,
    value: f64,
    is_nan: bool,
) -> String {
    encode_token(
        fingerprint,
        vec![
            (0, KeyValue::Int(step)),
            (0, KeyValue::Int(timestamp)),
            (0, KeyValue::Float(value.to_bits())),
            (0, KeyValue::Int(i64::from(is_nan))),
        ],
    )
}

/// Decodes a history page token into `(step, timestamp, value, is_nan)`.
pub(crate) fn decode_history_token(
    token: &str,
    fingerprint: &str,
) -> StoreResult<(i64, i64, f64, bool)> {
    let keys = decode_token(token, fingerprint, 4)?;
    match keys.as_slice() {
        [(_, KeyValue::Int(step)), (_, KeyValue::Int(timestamp)), (_, KeyValue::Float(bits)), (_, KeyValue::Int(nan))] => {
            Ok((*step, *timestamp, f64::from_bits(*bits), *nan != 0))
        }
        _ => Err(invalid(
            "Invalid page token: it belongs to a search with other parameters",
        )),
    }
}

/// The value stored for a metric: NaN becomes 0 with `is_nan` (SQLite cannot store NaN;
/// PostgreSQL would sort it above infinity); infinities are kept.
pub(crate) fn stored_metric_value(value: f64) -> (f64, bool) {
    if value.is_nan() {
        (0.0, true)
    } else {
        (value, false)
    }
}

/// The value a stored metric row stands for.
pub(crate) fn loaded_metric_value(value: f64, is_nan: bool) -> f64 {
    if is_nan {
        f64::NAN
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use plinth_types::ViewType;

    use super::*;

    #[test]
    fn like_patterns_become_case_sensitive_globs() {
        assert_eq!(like_to_glob("%abc_"), "*abc?");
        assert_eq!(like_to_glob("a*b?[c]"), "a[*]b[?][[]c]");
        assert_eq!(like_to_glob("50\\%\\_x\\"), "50%_x\\");
        assert_eq!(like_pattern("ab\\"), "ab\\\\");
        assert_eq!(like_pattern("ab\\\\"), "ab\\\\");
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_query() {
        let keys = vec![
            (0, KeyValue::Float(f64::INFINITY.to_bits())),
            (2, KeyValue::Null),
            (0, KeyValue::Text("ü'\"".to_string())),
        ];
        let token = encode_token("abc", keys.clone());
        assert_eq!(decode_token(&token, "abc", 3).unwrap(), keys);
        assert!(decode_token(&token, "abd", 3).is_err());
        assert!(decode_token(&token, "abc", 2).is_err());
        assert_eq!(
            decode_token("%%%", "abc", 3).unwrap_err().to_string(),
            "Invalid page token, could not base64-decode"
        );
        assert_ne!(fingerprint("a"), fingerprint("b"));
        assert_eq!(fingerprint("a"), fingerprint("a"));
    }

    #[test]
    fn run_search_compiles_filters_orders_and_keysets() {
        let search = RunSearch {
            experiment_ids: vec![1, 2],
            filter: Some(
                "metrics.acc > 0.5 AND params.lr = '0.01' AND tags.t LIKE 'x%' AND attributes.run_id IN ('a', 'b') AND datasets.context = 'train'"
                    .to_string(),
            ),
            run_view_type: ViewType::ActiveOnly,
            max_results: 10,
            order_by: vec!["metrics.acc DESC".to_string(), "params.lr".to_string()],
            page_token: None,
        };
        // Ordered by a metric, no driver: the runs with a value in the index's order, then
        // those with NaN, then those without the metric.
        let plan = run_search(Dialect::Sqlite, "p1", &search, None).unwrap();
        let text = &plan.sql.text;
        assert!(
            text.contains("FROM latest_metrics o0 CROSS JOIN runs r"),
            "{text}"
        );
        assert!(text.contains("o0.is_nan = FALSE"), "{text}");
        assert!(text.contains("p.value GLOB"), "{text}");
        assert!(text.contains("r.id IN ("), "{text}");
        assert!(text.ends_with("ORDER BY s.k0 DESC, CASE WHEN s.k1 IS NULL THEN 1 ELSE 0 END ASC, s.k1 ASC, s.kst DESC, s.kid ASC LIMIT 11"), "{text}");
        assert_eq!(plan.then.len(), 2);
        assert!(
            plan.then[0].text.contains("o0.is_nan = TRUE"),
            "{}",
            plan.then[0].text
        );
        assert!(
            plan.then[1]
                .text
                .contains("NOT EXISTS (SELECT 1 FROM latest_metrics o0 WHERE o0.run_id = r.id"),
            "{}",
            plan.then[1].text
        );
        assert!(plan.then[1].text.ends_with("ORDER BY CASE WHEN s.k1 IS NULL THEN 1 ELSE 0 END ASC, s.k1 ASC, s.kst DESC, s.kid ASC LIMIT 11"), "{}", plan.then[1].text);
        assert!(plan.settings.is_empty());
        assert_eq!(plan.keyset.columns.len(), 4);
        // Driven by `metrics.acc > 0.5`: one statement over the runs it lists, sorted.
        let probes = run_search_probes(Dialect::Sqlite, &search).unwrap();
        let probed: Vec<usize> = probes.iter().map(|(index, _)| *index).collect();
        assert_eq!(
            probed,
            [0, 1],
            "the metric comparison and the param equality"
        );
        assert!(probes[0]
            .1
            .text
            .starts_with("SELECT COUNT(*) FROM (SELECT d.run_id FROM latest_metrics d"));
        assert!(probes[0]
            .1
            .text
            .ends_with(&format!("LIMIT {}) c", run_driver_cap())));
        let driven = run_search(Dialect::Sqlite, "p1", &search, Some(0)).unwrap();
        let text = &driven.sql.text;
        assert!(driven.then.is_empty());
        assert!(
            text.contains(") d CROSS JOIN runs r LEFT JOIN latest_metrics o0"),
            "{text}"
        );
        assert!(
            !text.contains("EXISTS (SELECT 1 FROM latest_metrics m"),
            "the driver's own clause is not tested again: {text}"
        );
        assert!(text.ends_with("ORDER BY CASE WHEN s.n0 = TRUE THEN 1 WHEN s.k0 IS NULL THEN 2 ELSE 0 END ASC, s.k0 DESC, CASE WHEN s.k1 IS NULL THEN 1 ELSE 0 END ASC, s.k1 ASC, s.kst DESC, s.kid ASC LIMIT 11"), "{text}");
        let token = encode_token(
            &plan.fingerprint,
            vec![
                (0, KeyValue::Float(0.9f64.to_bits())),
                (1, KeyValue::Null),
                (0, KeyValue::Int(5)),
                (0, KeyValue::Text("z".into())),
            ],
        );
        let next = run_search(
            Dialect::Postgres,
            "p1",
            &RunSearch {
                page_token: Some(token.clone()),
                ..search.clone()
            },
            None,
        )
        .unwrap();
        assert!(
            next.sql.text.contains(" WHERE s.k0 <= $"),
            "{}",
            next.sql.text
        );
        assert!(next.sql.text.contains("md5(p.value)"), "{}", next.sql.text);
        // PostgreSQL keeps the join order and the probes whatever its statistics say.
        assert!(next.sql.text.contains("FROM latest_metrics o0 CROSS JOIN LATERAL (SELECT * FROM runs x WHERE x.id = o0.run_id OFFSET 0) r"), "{}", next.sql.text);
        assert!(
            next.sql.text.contains("AND m.is_nan = FALSE OFFSET 0)"),
            "{}",
            next.sql.text
        );
        assert_eq!(
            next.settings,
            ["SET LOCAL enable_sort = off", "SET LOCAL jit = off"]
        );
        assert!(
            !next.then[0].text.contains(" s WHERE "),
            "later stages start at their beginning"
        );
        // A token among the runs without the metric skips the first two statements.
        let missing = encode_token(
            &plan.fingerprint,
            vec![
                (2, KeyValue::Null),
                (1, KeyValue::Null),
                (0, KeyValue::Int(5)),
                (0, KeyValue::Text("z".into())),
            ],
        );
        let last = run_search(
            Dialect::Sqlite,
            "p1",
            &RunSearch {
                page_token: Some(missing),
                ..search.clone()
            },
            None,
        )
        .unwrap();
        assert!(last.then.is_empty());
        assert!(
            last.sql
                .text
                .contains("NOT EXISTS (SELECT 1 FROM latest_metrics o0"),
            "{}",
            last.sql.text
        );
        assert!(last.sql.text.contains(" s WHERE (("), "{}", last.sql.text);
        let other = run_search(
            Dialect::Sqlite,
            "p1",
            &RunSearch {
                page_token: next
                    .sql
                    .binds
                    .first()
                    .map(|_| encode_token("other", vec![])),
                ..search
            },
            None,
        );
        assert!(other.is_err());
    }

    #[test]
    fn max_results_is_bounded_as_in_mlflow() {
        let search = RunSearch {
            experiment_ids: vec![],
            filter: None,
            run_view_type: ViewType::All,
            max_results: 50_001,
            order_by: vec![],
            page_token: None,
        };
        assert_eq!(
            run_search(Dialect::Sqlite, "p", &search, None)
                .unwrap_err()
                .to_string(),
            "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"
        );
    }

    #[test]
    fn positional_placeholders_follow_the_text() {
        let mut sql = Sql::default();
        let a = sql.bind("a");
        let b = sql.bind(2_i64);
        sql.text =
            format!("SELECT {b}, '$1 stays', \"$2\" FROM t WHERE x = {a} AND y = {b} AND z = $9");
        let positional = sql.positional();
        assert_eq!(
            positional.text,
            "SELECT ?, '$1 stays', \"$2\" FROM t WHERE x = ? AND y = ? AND z = $9"
        );
        assert_eq!(
            positional.binds,
            vec![Bind::Int(2), Bind::Text("a".to_string()), Bind::Int(2)]
        );
        assert_eq!(Dialect::Postgres.finish(sql.clone()).text, sql.text);
    }
}
