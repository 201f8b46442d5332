//! MLflow's search grammars: the `filter` strings of search-runs, search-experiments,
//! search-registered-models, search-model-versions and search-logged-models, and their
//! `order_by` clauses. They accept what MLflow 3.17's `search_utils.py` accepts (a list of
//! comparisons joined by `AND`) and refuse the rest with MLflow's messages. Python set
//! literals inside messages are printed sorted (Python's order is random per process).
//!
//! The parser only checks shape; each search compiles the parsed clauses to SQL in
//! `query.rs`, where the comparator checks MLflow does at that stage happen too.

use crate::{StoreError, StoreResult};

/// A refusal with MLflow's `INVALID_PARAMETER_VALUE` message.
pub(crate) fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::InvalidValue(message.into())
}

// ---------------------------------------------------------------------------------------
// Tokens

/// One token of a filter, carrying its source text (MLflow quotes it in messages).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Token {
    /// A possibly dotted name: `metrics.acc`, ``tags.`a b` ``, `"x"` (quotes kept).
    Identifier(String),
    /// A single-quoted string, quotes kept.
    String(String),
    /// A number literal; `true` when it is a float (has `.` or an exponent).
    Number(String, bool),
    /// `=`, `!=`, `<>`, `==`, `<`, `<=`, `>`, `>=`.
    Operator(String),
    /// A keyword (`AND`, `OR`, `NOT`, `IN`, `IS`, `NULL`, `LIKE`, `ILIKE` …), text as written.
    Keyword(String),
    /// A parenthesised group, parentheses kept.
    Parenthesis(String),
    /// Anything else (one character).
    Other(String),
}

impl Token {
    fn text(&self) -> &str {
        match self {
            Token::Identifier(text)
            | Token::String(text)
            | Token::Number(text, _)
            | Token::Operator(text)
            | Token::Keyword(text)
            | Token::Parenthesis(text)
            | Token::Other(text) => text,
        }
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(self, Token::Keyword(text) if text.eq_ignore_ascii_case(word))
    }
}

const KEYWORDS: &[&str] = &[
    "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "BETWEEN",
];

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Reads a quoted run starting at `chars[start]` (the quote); a doubled quote or a
/// backslash-escaped one stays inside. Returns the index after the closing quote.
fn quoted_end(chars: &[char], start: usize) -> Option<usize> {
    let quote = chars[start];
    let mut index = start + 1;
    while index < chars.len() {
        let c = chars[index];
        if c == '\\' && quote != '`' && index + 1 < chars.len() {
            index += 2;
            continue;
        }
        if c == quote {
            if index + 1 < chars.len() && chars[index + 1] == quote {
                index += 2;
                continue;
            }
            return Some(index + 1);
        }
        index += 1;
    }
    None
}

/// Reads a number at `start` the way sqlparse does: `-?\d+(\.\d*)?([eE]-?\d+)?` or
/// `-?\.\d+`, not followed by a letter or `_`.
fn number_end(chars: &[char], start: usize) -> Option<(usize, bool)> {
    let mut index = start;
    if chars.get(index) == Some(&'-') {
        index += 1;
    }
    let digits_start = index;
    while chars.get(index).is_some_and(char::is_ascii_digit) {
        index += 1;
    }
    let mut float = false;
    let int_digits = index - digits_start;
    if chars.get(index) == Some(&'.') {
        let after_dot = index + 1;
        let mut end = after_dot;
        while chars.get(end).is_some_and(char::is_ascii_digit) {
            end += 1;
        }
        if int_digits > 0 || end > after_dot {
            index = end;
            float = true;
        }
    }
    if index == digits_start || (int_digits == 0 && !float) {
        return None;
    }
    if matches!(chars.get(index), Some('e' | 'E')) {
        let mut end = index + 1;
        if chars.get(end) == Some(&'-') {
            end += 1;
        }
        let exponent_start = end;
        while chars.get(end).is_some_and(char::is_ascii_digit) {
            end += 1;
        }
        if end > exponent_start {
            index = end;
            float = true;
        }
    }
    if chars.get(index).is_some_and(|c| is_name_start(*c)) {
        return None;
    }
    Some((index, float))
}

/// Splits one statement into tokens; whitespace separates and is dropped.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    let slice = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        if c == '\'' {
            let end = quoted_end(&chars, index).unwrap_or(chars.len());
            tokens.push(Token::String(slice(index, end)));
            index = end;
            continue;
        }
        if c == '(' {
            let mut depth = 0usize;
            let mut end = index;
            while end < chars.len() {
                match chars[end] {
                    '\'' | '"' | '`' => {
                        end = quoted_end(&chars, end).unwrap_or(chars.len());
                        continue;
                    }
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                end += 1;
            }
            tokens.push(Token::Parenthesis(slice(index, end.min(chars.len()))));
            index = end;
            continue;
        }
        if c.is_ascii_digit() || ((c == '-' || c == '.') && index + 1 < chars.len()) {
            if let Some((end, float)) = number_end(&chars, index) {
                tokens.push(Token::Number(slice(index, end), float));
                index = end;
                continue;
            }
        }
        if is_name_start(c) || c == '"' || c == '`' {
            let start = index;
            // The first part, then `.part` repeatedly; a part after a dot may also start
            // with a digit or be quoted with any quote.
            let mut first = true;
            loop {
                match chars.get(index) {
                    Some('"' | '`') => index = quoted_end(&chars, index).unwrap_or(chars.len()),
                    Some('\'') if !first => {
                        index = quoted_end(&chars, index).unwrap_or(chars.len())
                    }
                    Some(c) if is_name_char(*c) && (!first || is_name_start(*c)) => {
                        while chars.get(index).is_some_and(|c| is_name_char(*c)) {
                            index += 1;
                        }
                    }
                    _ => break,
                }
                first = false;
                if chars.get(index) == Some(&'.')
                    && chars
                        .get(index + 1)
                        .is_some_and(|c| is_name_char(*c) || matches!(c, '"' | '`' | '\''))
                {
                    index += 1;
                    continue;
                }
                break;
            }
            if index == start {
                index += 1;
            }
            let word = slice(start, index);
            if KEYWORDS
                .iter()
                .any(|keyword| keyword.eq_ignore_ascii_case(&word))
            {
                tokens.push(Token::Keyword(word));
            } else {
                tokens.push(Token::Identifier(word));
            }
            continue;
        }
        let two = slice(index, (index + 2).min(chars.len()));
        if ["!=", "<>", "==", "<=", ">="].contains(&two.as_str()) {
            tokens.push(Token::Operator(two));
            index += 2;
            continue;
        }
        if ['=', '<', '>'].contains(&c) {
            tokens.push(Token::Operator(c.to_string()));
            index += 1;
            continue;
        }
        tokens.push(Token::Other(c.to_string()));
        index += 1;
    }
    tokens
}

/// Splits a filter at `;` outside quotes, dropping empty statements.
fn statements(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < chars.len() {
        match chars[index] {
            '\'' | '"' | '`' => {
                index = quoted_end(&chars, index).unwrap_or(chars.len());
                continue;
            }
            ';' => {
                parts.push(chars[start..index].iter().collect::<String>());
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    parts.push(chars[start..].iter().collect::<String>());
    parts
        .into_iter()
        .filter(|part| !part.trim().is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Raw comparisons

/// A comparison as written: identifier, comparator, value token (none for `IS [NOT] NULL`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawComparison {
    pub(crate) identifier: String,
    pub(crate) comparator: String,
    pub(crate) value: Option<Token>,
}

fn is_value(token: &Token) -> bool {
    matches!(
        token,
        Token::String(_) | Token::Number(..) | Token::Identifier(_) | Token::Parenthesis(_)
    )
}

/// How a grammar lists tokens that form no comparison.
#[derive(Clone, Copy)]
enum InvalidStyle {
    /// `'OR', 'x'` (search-runs).
    Quoted,
    /// `OR, x` (experiments, registry).
    Plain,
}

/// Parses `filter` into comparisons joined by `AND`; anything else is refused.
fn parse_comparisons(filter: &str, style: InvalidStyle) -> StoreResult<Vec<RawComparison>> {
    let statements = statements(filter);
    if statements.len() > 1 {
        return Err(invalid(format!(
            "Search filter contained multiple expression {}. Provide AND-ed expression list.",
            python_repr(filter)
        )));
    }
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    // One statement: a stray `;` stays in it and is refused as a clause, as in MLflow.
    let tokens = tokenize(filter);
    let mut comparisons = Vec::new();
    let mut invalids: Vec<String> = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let token = &tokens[index];
        if token.is_keyword("AND") {
            index += 1;
            continue;
        }
        let Token::Identifier(identifier) = token else {
            invalids.push(token.text().to_string());
            index += 1;
            continue;
        };
        let next = tokens.get(index + 1);
        let after = tokens.get(index + 2);
        let comparison = |comparator: &str, value: Option<&Token>| RawComparison {
            identifier: identifier.clone(),
            comparator: comparator.to_string(),
            value: value.cloned(),
        };
        match (next, after) {
            (Some(Token::Operator(op)), Some(value)) if is_value(value) => {
                comparisons.push(comparison(op, Some(value)));
                index += 3;
            }
            (Some(keyword @ Token::Keyword(word)), Some(value))
                if (word.eq_ignore_ascii_case("LIKE") || word.eq_ignore_ascii_case("ILIKE"))
                    && is_value(value) =>
            {
                comparisons.push(comparison(keyword.text(), Some(value)));
                index += 3;
            }
            (Some(keyword @ Token::Keyword(word)), Some(value @ Token::Parenthesis(_)))
                if word.eq_ignore_ascii_case("IN") =>
            {
                comparisons.push(comparison(keyword.text(), Some(value)));
                index += 3;
            }
            (Some(not), Some(is_in))
                if not.is_keyword("NOT")
                    && is_in.is_keyword("IN")
                    && matches!(tokens.get(index + 3), Some(Token::Parenthesis(_))) =>
            {
                comparisons.push(comparison("NOT IN", tokens.get(index + 3)));
                index += 4;
            }
            (Some(is), Some(null)) if is.is_keyword("IS") && null.is_keyword("NULL") => {
                comparisons.push(comparison("IS NULL", None));
                index += 3;
            }
            (Some(is), Some(not))
                if is.is_keyword("IS")
                    && not.is_keyword("NOT")
                    && tokens.get(index + 3).is_some_and(|t| t.is_keyword("NULL")) =>
            {
                comparisons.push(comparison("IS NOT NULL", None));
                index += 4;
            }
            _ => {
                invalids.push(identifier.clone());
                index += 1;
            }
        }
    }
    if !invalids.is_empty() {
        let listed = match style {
            InvalidStyle::Quoted => invalids
                .iter()
                .map(|text| format!("'{text}'"))
                .collect::<Vec<_>>()
                .join(", "),
            InvalidStyle::Plain => invalids.join(", "),
        };
        return Err(invalid(format!(
            "Invalid clause(s) in filter string: {listed}"
        )));
    }
    Ok(comparisons)
}

// ---------------------------------------------------------------------------------------
// Values

/// The right-hand side of a comparison, interpreted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// `IS [NOT] NULL`.
    None,
    /// A string (quotes removed; MLflow does not unescape).
    Text(String),
    /// An integer literal.
    Int(i64),
    /// A float literal (or any number compared with a metric).
    Float(f64),
    /// `IN (…)` / `NOT IN (…)`.
    List(Vec<String>),
}

fn is_quoted(text: &str, quote: char) -> bool {
    text.chars().count() >= 2 && text.starts_with(quote) && text.ends_with(quote)
}

fn trim_ends(text: &str) -> String {
    let mut chars = text.chars();
    chars.next();
    chars.next_back();
    chars.collect()
}

fn trim_backticks(text: &str) -> String {
    if is_quoted(text, '`') {
        trim_ends(text)
    } else {
        text.to_string()
    }
}

fn strip_quotes(text: &str, expect_quoted: bool) -> StoreResult<String> {
    if is_quoted(text, '\'') || is_quoted(text, '"') {
        return Ok(trim_ends(text));
    }
    if expect_quoted {
        return Err(invalid(format!(
            "Parameter value is either not quoted or unidentified quote types used for string \
             value {text}. Use either single or double quotes."
        )));
    }
    Ok(text.to_string())
}

fn number_value(text: &str, float: bool) -> StoreResult<Value> {
    if !float {
        if let Ok(value) = text.parse::<i64>() {
            return Ok(Value::Int(value));
        }
    }
    text.parse::<f64>()
        .map(Value::Float)
        .map_err(|_| invalid(format!("Invalid numeric value {text}")))
}

/// Parses `(…)` the way Python's `ast.literal_eval` reads a tuple of strings.
fn parse_string_list(text: &str) -> StoreResult<Vec<String>> {
    let ill_formed = || {
        invalid(
            "While parsing a list in the query, expected a non-empty list of string values, \
             but got ill-formed list.",
        )
    };
    let chars: Vec<char> = text.chars().collect();
    if chars.first() != Some(&'(') || chars.last() != Some(&')') {
        return Err(ill_formed());
    }
    let inner = &chars[1..chars.len() - 1];
    #[derive(Debug)]
    enum Item {
        Text(String),
        Other(String),
    }
    let mut items: Vec<Item> = Vec::new();
    let mut index = 0;
    let mut expect_item = true;
    let mut trailing_comma = false;
    // True until a string literal of the current item was read.
    let mut expect_item_fresh = true;
    while index < inner.len() {
        let c = inner[index];
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        if !expect_item && !expect_item_fresh && (c == '\'' || c == '"') {
            expect_item = true;
        }
        if expect_item {
            if c == '\'' || c == '"' {
                let mut value = String::new();
                let mut end = index + 1;
                let mut closed = false;
                while end < inner.len() {
                    let d = inner[end];
                    if d == '\\' && end + 1 < inner.len() {
                        let escaped = inner[end + 1];
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '0' => '\0',
                            other => other,
                        });
                        end += 2;
                        continue;
                    }
                    if d == c {
                        closed = true;
                        break;
                    }
                    value.push(d);
                    end += 1;
                }
                if !closed {
                    return Err(ill_formed());
                }
                index = end + 1;
                // Adjacent literals concatenate, as in Python: `('a' 'b')` is `('ab',)`.
                if let Some(Item::Text(previous)) = items.last_mut().filter(|_| !expect_item_fresh)
                {
                    previous.push_str(&value);
                } else {
                    items.push(Item::Text(value));
                }
                expect_item_fresh = false;
            } else {
                let start = index;
                while index < inner.len() && inner[index] != ',' && !inner[index].is_whitespace() {
                    index += 1;
                }
                let word: String = inner[start..index].iter().collect();
                let numeric = number_end(&inner[start..index], 0)
                    .is_some_and(|(end, _)| end == index - start);
                if !numeric {
                    return Err(ill_formed());
                }
                items.push(Item::Other(word));
                expect_item_fresh = true;
            }
            expect_item = false;
            trailing_comma = false;
        } else if c == ',' {
            expect_item = true;
            expect_item_fresh = true;
            trailing_comma = true;
            index += 1;
        } else {
            return Err(ill_formed());
        }
    }
    if expect_item && !items.is_empty() && !trailing_comma {
        return Err(ill_formed());
    }
    if items.is_empty() {
        return Err(invalid(
            "While parsing a list in the query, expected a non-empty list of string values, \
             but got empty list",
        ));
    }
    if items.iter().any(|item| matches!(item, Item::Other(_))) {
        let rendered: Vec<String> = items
            .iter()
            .map(|item| match item {
                Item::Text(text) => python_repr(text),
                Item::Other(word) => word.clone(),
            })
            .collect();
        let tuple = if rendered.len() == 1 {
            format!("({},)", rendered[0])
        } else {
            format!("({})", rendered.join(", "))
        };
        return Err(invalid(format!(
            "While parsing a list in the query, expected string value, punctuation, or \
             whitespace, but got different type in list: {tuple}"
        )));
    }
    Ok(items
        .into_iter()
        .filter_map(|item| match item {
            Item::Text(text) => Some(text),
            Item::Other(_) => None,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Python renderings used in MLflow's messages

/// Renders `text` as Python's `repr(str)` does.
pub(crate) fn python_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Renders a set of strings as Python prints it (`{'a', 'b'}`), sorted.
pub(crate) fn python_set(items: &[&str]) -> String {
    let mut sorted: Vec<&str> = items.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let inner: Vec<String> = sorted.iter().map(|item| python_repr(item)).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Renders a list of strings as Python prints it (`['a', 'b']`), in order.
pub(crate) fn python_list(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|item| python_repr(item)).collect();
    format!("[{}]", inner.join(", "))
}

// ---------------------------------------------------------------------------------------
// Search-runs

/// What a run comparison addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntityType {
    /// `metrics.x` (latest value).
    Metric,
    /// `params.x`.
    Param,
    /// `tags.x`.
    Tag,
    /// `attributes.x` or a bare key.
    Attribute,
    /// `datasets.name|digest|context`.
    Dataset,
}

impl EntityType {
    fn mlflow_name(self) -> &'static str {
        match self {
            EntityType::Metric => "metric",
            EntityType::Param => "parameter",
            EntityType::Tag => "tag",
            EntityType::Attribute => "attribute",
            EntityType::Dataset => "dataset",
        }
    }
}

/// One parsed comparison of a search filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Clause {
    pub(crate) entity: EntityType,
    pub(crate) key: String,
    /// Upper-cased: `=`, `!=`, `<`, `LIKE`, `IN`, `NOT IN`, `IS NULL` …
    pub(crate) comparator: String,
    pub(crate) value: Value,
}

const RUN_NUMERIC_ATTRIBUTES: &[&str] = &["start_time", "end_time", "created", "Created"];
const RUN_SEARCH_ATTRIBUTES: &[&str] = &[
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
    "created",
    "Created",
    "run name",
    "Run name",
    "Run Name",
];
const RUN_ORDER_ATTRIBUTES: &[&str] = &[
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
    "created",
    "Created",
];
const DATASET_ATTRIBUTES: &[&str] = &["name", "digest", "context"];
const ENTITY_IDENTIFIERS: &[&str] = &["metric", "parameter", "tag", "attribute", "dataset"];

/// Maps MLflow's alternative spellings: `created` → `start_time`, `run name` → `run_name`.
pub(crate) fn translate_key_alias(key: &str) -> &str {
    match key {
        "created" | "Created" => "start_time",
        "run name" | "Run name" | "Run Name" => "run_name",
        other => other,
    }
}

fn run_entity_type(entity: &str) -> StoreResult<EntityType> {
    let entity = trim_backticks(entity);
    Ok(match entity.as_str() {
        "metric" | "metrics" => EntityType::Metric,
        "parameter" | "parameters" | "param" | "params" => EntityType::Param,
        "tag" | "tags" => EntityType::Tag,
        "attribute" | "attr" | "attributes" | "run" => EntityType::Attribute,
        "dataset" | "datasets" => EntityType::Dataset,
        other => {
            return Err(invalid(format!(
                "Invalid entity type '{other}'. Valid values are {}",
                python_list(ENTITY_IDENTIFIERS)
            )))
        }
    })
}

fn run_identifier(
    identifier: &str,
    valid_attributes: &[&str],
) -> StoreResult<(EntityType, String)> {
    let (entity, key) = match identifier.split_once('.') {
        None => (EntityType::Attribute, identifier.to_string()),
        Some((entity, key)) => (run_entity_type(entity)?, key.to_string()),
    };
    let key = trim_backticks(&strip_quotes(&key, false)?);
    if entity == EntityType::Attribute && !valid_attributes.contains(&key.as_str()) {
        return Err(invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            python_set(valid_attributes)
        )));
    }
    if entity == EntityType::Dataset && !DATASET_ATTRIBUTES.contains(&key.as_str()) {
        return Err(invalid(format!(
            "Invalid dataset key '{key}' specified. Valid keys are '{}'",
            python_set(DATASET_ATTRIBUTES)
        )));
    }
    Ok((entity, key))
}

fn run_value(entity: EntityType, key: &str, token: &Token) -> StoreResult<Value> {
    match entity {
        EntityType::Metric => match token {
            Token::Number(text, _) => text
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| invalid(format!("Invalid numeric value {text}"))),
            other => Err(invalid(format!(
                "Expected numeric value type for metric. Found {}",
                other.text()
            ))),
        },
        EntityType::Param | EntityType::Tag => match token {
            Token::String(text) | Token::Identifier(text) => {
                Ok(Value::Text(strip_quotes(text, true)?))
            }
            other => Err(invalid(format!(
                "Expected a quoted string value for {} (e.g. 'my-value'). Got value {}",
                entity.mlflow_name(),
                other.text()
            ))),
        },
        EntityType::Attribute => {
            if RUN_NUMERIC_ATTRIBUTES.contains(&key) {
                return match token {
                    Token::Number(text, float) => number_value(text, *float),
                    other => Err(invalid(format!(
                        "Expected numeric value type for numeric attribute: {key}. Found {}",
                        other.text()
                    ))),
                };
            }
            match token {
                Token::String(text) | Token::Identifier(text) => {
                    Ok(Value::Text(strip_quotes(text, true)?))
                }
                Token::Parenthesis(text) => {
                    list_supported(key, &["run_id"])?;
                    Ok(Value::List(parse_string_list(text)?))
                }
                other => Err(invalid(format!(
                    "Expected a quoted string value for attributes. Got value {}",
                    other.text()
                ))),
            }
        }
        EntityType::Dataset => match token {
            Token::String(text) | Token::Identifier(text) => {
                Ok(Value::Text(strip_quotes(text, true)?))
            }
            Token::Parenthesis(text) => Ok(Value::List(parse_string_list(text)?)),
            other => Err(invalid(format!(
                "Expected a quoted string value for dataset attributes. Got value {}",
                other.text()
            ))),
        },
    }
}

fn list_supported(key: &str, keys: &[&str]) -> StoreResult<()> {
    if !keys.contains(&key) {
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        return Err(invalid(format!(
            "Only {} attributes support comparison with a list of quoted string values.",
            python_list(&sorted)
        )));
    }
    Ok(())
}

const METRIC_COMPARATORS: &[&str] = &[">", ">=", "!=", "=", "<", "<="];
const PARAM_COMPARATORS: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"];
const STRING_ATTRIBUTE_COMPARATORS: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"];
const DATASET_COMPARATORS: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"];

/// Checks a run clause's comparator as MLflow does when it builds the query.
fn check_run_comparator(clause: &Clause) -> StoreResult<()> {
    let comparator = clause.comparator.as_str();
    let refuse = |valid: &[&str], closing_quote: bool| {
        Err(invalid(format!(
            "Invalid comparator '{comparator}' not one of '{}{}",
            python_set(valid),
            if closing_quote { "'" } else { "" }
        )))
    };
    match clause.entity {
        EntityType::Metric if !METRIC_COMPARATORS.contains(&comparator) => {
            refuse(METRIC_COMPARATORS, false)
        }
        EntityType::Param if !PARAM_COMPARATORS.contains(&comparator) => {
            refuse(PARAM_COMPARATORS, true)
        }
        EntityType::Tag if !PARAM_COMPARATORS.contains(&comparator) => {
            refuse(PARAM_COMPARATORS, false)
        }
        EntityType::Dataset if !DATASET_COMPARATORS.contains(&comparator) => {
            refuse(DATASET_COMPARATORS, false)
        }
        EntityType::Attribute => {
            if RUN_NUMERIC_ATTRIBUTES.contains(&clause.key.as_str()) {
                if !METRIC_COMPARATORS.contains(&comparator) {
                    // MLflow names the string comparators here, without the closing quote.
                    return refuse(STRING_ATTRIBUTE_COMPARATORS, false);
                }
            } else if !STRING_ATTRIBUTE_COMPARATORS.contains(&comparator) {
                return refuse(STRING_ATTRIBUTE_COMPARATORS, true);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Parses a search-runs filter and checks every comparator. Keys keep MLflow's aliases
/// (`created`); use [`translate_key_alias`] when compiling.
pub(crate) fn parse_run_filter(filter: &str) -> StoreResult<Vec<Clause>> {
    let mut clauses = Vec::new();
    for raw in parse_comparisons(filter, InvalidStyle::Quoted)? {
        let (entity, key) = run_identifier(&raw.identifier, RUN_SEARCH_ATTRIBUTES)?;
        let Some(token) = &raw.value else {
            if !matches!(entity, EntityType::Tag | EntityType::Param) {
                return Err(invalid(format!(
                    "IS NULL / IS NOT NULL is only supported for tags and params, not for \
                     '{}' '{key}'",
                    entity.mlflow_name()
                )));
            }
            clauses.push(Clause {
                entity,
                key,
                comparator: raw.comparator.to_uppercase(),
                value: Value::None,
            });
            continue;
        };
        let value = run_value(entity, &key, token)?;
        clauses.push(Clause {
            entity,
            key,
            comparator: raw.comparator.to_uppercase(),
            value,
        });
    }
    for clause in &clauses {
        check_run_comparator(clause)?;
    }
    Ok(clauses)
}

// ---------------------------------------------------------------------------------------
// Order-by clauses

/// Splits `key [ASC|DESC]` as MLflow does (`shlex` after turning backticks into `"`):
/// returns the identifier with its quotes removed and whether it ascends.
fn split_order_by(order_by: &str) -> StoreResult<(String, bool)> {
    let unparsable = || {
        invalid(format!(
            "Invalid order_by clause '{order_by}'. Could not be parsed."
        ))
    };
    if order_by.is_empty() || order_by.trim() != order_by {
        return Err(unparsable());
    }
    // The identifier must lex as exactly one identifier, optionally followed by a word.
    let tokens = tokenize(order_by);
    let identifier_ok = matches!(
        tokens.first(),
        Some(Token::Identifier(_)) | Some(Token::Keyword(_))
    );
    if !identifier_ok || tokens.len() > 2 {
        return Err(unparsable());
    }
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in order_by.chars() {
        let c = if c == '`' { '"' } else { c };
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(unparsable());
    }
    if in_word {
        words.push(current);
    }
    match words.len() {
        1 => Ok((words.remove(0), true)),
        2 => {
            let direction = words[1].to_lowercase();
            if direction != "asc" && direction != "desc" {
                return Err(invalid(format!(
                    "Invalid ordering key in order_by clause '{order_by}'."
                )));
            }
            Ok((words.remove(0), direction == "asc"))
        }
        _ => Err(unparsable()),
    }
}

/// One parsed `order_by` entry of search-runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunOrderBy {
    pub(crate) entity: EntityType,
    /// Aliases already translated (`created` → `start_time`).
    pub(crate) key: String,
    pub(crate) ascending: bool,
}

/// Parses search-runs `order_by` entries; duplicates and datasets are refused as in MLflow.
pub(crate) fn parse_run_order_by(order_by: &[String]) -> StoreResult<Vec<RunOrderBy>> {
    let mut parsed: Vec<RunOrderBy> = Vec::new();
    for clause in order_by {
        let (identifier, ascending) = split_order_by(clause)?;
        let (entity, key) = run_identifier(identifier.trim(), RUN_ORDER_ATTRIBUTES)?;
        if entity == EntityType::Dataset {
            return Err(invalid("Invalid identifier type 'dataset'"));
        }
        let key = translate_key_alias(&key).to_string();
        if parsed
            .iter()
            .any(|seen| seen.entity == entity && seen.key == key)
        {
            let listed: Vec<&str> = order_by.iter().map(String::as_str).collect();
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {}",
                python_list(&listed)
            )));
        }
        parsed.push(RunOrderBy {
            entity,
            key,
            ascending,
        });
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------------------
// Experiments, registered models, model versions: `attribute.`/`tag.` grammars

/// The small grammars share their identifier rules.
struct SmallGrammar {
    attributes: &'static [&'static str],
    numeric: &'static [&'static str],
    lists: &'static [&'static str],
    /// Registry grammars check attribute keys before removing quotes.
    check_key_before_unquoting: bool,
    /// Model versions accept numbers for their numeric attributes only.
    numbers_for_numeric_only: bool,
    /// The message when an attribute value has the wrong type.
    attribute_value_message: &'static str,
}

fn small_identifier(
    grammar: &SmallGrammar,
    identifier: &str,
    valid_attributes: &[&str],
) -> StoreResult<(EntityType, String)> {
    let (entity, key) = match identifier.split_once('.') {
        None => (EntityType::Attribute, identifier.to_string()),
        Some((entity, key)) => {
            const VALID: &str = "('attribute', 'tag', 'tags')";
            let entity = match entity {
                "attribute" => EntityType::Attribute,
                "tag" | "tags" => EntityType::Tag,
                other => {
                    return Err(invalid(format!(
                        "Invalid entity type '{other}'. Valid entity types are {VALID}"
                    )))
                }
            };
            (entity, key.to_string())
        }
    };
    let bad_key = |key: &str| {
        invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            python_set(valid_attributes)
        ))
    };
    if grammar.check_key_before_unquoting
        && entity == EntityType::Attribute
        && !valid_attributes.contains(&key.as_str())
    {
        return Err(bad_key(&key));
    }
    let key = trim_backticks(&strip_quotes(&key, false)?);
    if entity == EntityType::Attribute && !valid_attributes.contains(&key.as_str()) {
        return Err(bad_key(&key));
    }
    Ok((entity, key))
}

fn small_value(
    grammar: &SmallGrammar,
    entity: EntityType,
    key: &str,
    token: &Token,
) -> StoreResult<Value> {
    if entity == EntityType::Tag {
        return match token {
            Token::String(text) | Token::Identifier(text) => {
                Ok(Value::Text(strip_quotes(text, true)?))
            }
            other => Err(invalid(format!(
                "Expected a quoted string value for tag (e.g. 'my-value'). Got value {}",
                other.text()
            ))),
        };
    }
    if !grammar.numbers_for_numeric_only && grammar.numeric.contains(&key) {
        return match token {
            Token::Number(text, float) => number_value(text, *float),
            other => Err(invalid(format!(
                "Expected numeric value type for numeric attribute: {key}. Found {}",
                other.text()
            ))),
        };
    }
    match token {
        Token::String(text) | Token::Identifier(text) => Ok(Value::Text(strip_quotes(text, true)?)),
        Token::Parenthesis(text) => {
            list_supported(key, grammar.lists)?;
            Ok(Value::List(parse_string_list(text)?))
        }
        Token::Number(text, float) if grammar.numbers_for_numeric_only => {
            if !grammar.numeric.contains(&key) {
                return Err(invalid(format!(
                    "Only the '{}' attributes support comparison with numeric values.",
                    python_set(grammar.numeric)
                )));
            }
            number_value(text, *float)
        }
        other => Err(invalid(format!(
            "{} Got value {}",
            grammar.attribute_value_message,
            other.text()
        ))),
    }
}

fn parse_small(
    grammar: &SmallGrammar,
    filter: &str,
    tags_may_be_null: bool,
) -> StoreResult<Vec<Clause>> {
    let mut clauses = Vec::new();
    for raw in parse_comparisons(filter, InvalidStyle::Plain)? {
        let (entity, key) = small_identifier(grammar, &raw.identifier, grammar.attributes)?;
        let value = match &raw.value {
            None => {
                if !tags_may_be_null {
                    return Err(invalid(
                        "Invalid comparison clause. Expected 3 tokens found 2",
                    ));
                }
                if entity != EntityType::Tag {
                    return Err(invalid(format!(
                        "IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'"
                    )));
                }
                Value::None
            }
            Some(token) => small_value(grammar, entity, &key, token)?,
        };
        clauses.push(Clause {
            entity,
            key,
            comparator: raw.comparator.to_uppercase(),
            value,
        });
    }
    Ok(clauses)
}

const EXPERIMENT_ATTRIBUTES: &[&str] =
    &["name", "experiment_id", "creation_time", "last_update_time"];

const EXPERIMENTS: SmallGrammar = SmallGrammar {
    attributes: EXPERIMENT_ATTRIBUTES,
    numeric: &["creation_time", "last_update_time"],
    lists: &["experiment_id"],
    check_key_before_unquoting: false,
    numbers_for_numeric_only: false,
    attribute_value_message: "Expected a quoted string value for attributes.",
};

/// Parses a search-experiments filter and checks it as MLflow's store does.
pub(crate) fn parse_experiment_filter(filter: &str) -> StoreResult<Vec<Clause>> {
    let clauses = parse_small(&EXPERIMENTS, filter, true)?;
    for clause in &clauses {
        let comparator = clause.comparator.as_str();
        match clause.entity {
            EntityType::Attribute if clause.key == "experiment_id" => {
                if !["=", "!=", "IN", "NOT IN"].contains(&comparator) {
                    return Err(invalid(format!(
                        "Invalid comparator for experiment_id: {comparator}"
                    )));
                }
                let ids: Vec<&String> = match &clause.value {
                    Value::List(items) => items.iter().collect(),
                    Value::Text(text) => vec![text],
                    _ => Vec::new(),
                };
                for id in ids {
                    if id.trim().parse::<i64>().is_err() {
                        return Err(invalid(format!(
                            "Invalid experiment ID '{id}'. Experiment ID must be a valid integer."
                        )));
                    }
                }
            }
            EntityType::Attribute if EXPERIMENTS.numeric.contains(&clause.key.as_str()) => {
                if !METRIC_COMPARATORS.contains(&comparator) {
                    return Err(invalid(format!(
                        "Invalid comparator '{comparator}' not one of '{}",
                        python_set(STRING_ATTRIBUTE_COMPARATORS)
                    )));
                }
                if let Value::Float(value) = clause.value {
                    return Err(invalid(format!(
                        "Invalid value for numeric attribute '{}': '{}'",
                        clause.key,
                        python_float(value)
                    )));
                }
            }
            EntityType::Attribute => {
                if !STRING_ATTRIBUTE_COMPARATORS.contains(&comparator) {
                    return Err(invalid(format!(
                        "Invalid comparator '{comparator}' not one of '{}'",
                        python_set(STRING_ATTRIBUTE_COMPARATORS)
                    )));
                }
                if !["=", "!=", "LIKE", "ILIKE"].contains(&comparator) {
                    return Err(invalid(format!(
                        "Invalid comparator for string attribute: {comparator}"
                    )));
                }
            }
            _ => {
                if !PARAM_COMPARATORS.contains(&comparator) {
                    return Err(invalid(format!("Invalid comparator for tag: {comparator}")));
                }
            }
        }
    }
    Ok(clauses)
}

/// Parses search-experiments `order_by` entries: `(key, ascending)`.
pub(crate) fn parse_experiment_order_by(order_by: &[String]) -> StoreResult<Vec<(String, bool)>> {
    let mut parsed: Vec<(String, bool)> = Vec::new();
    for clause in order_by {
        let (identifier, ascending) = split_order_by(clause)?;
        let (entity, key) =
            small_identifier(&EXPERIMENTS, identifier.trim(), EXPERIMENT_ATTRIBUTES)?;
        if entity != EntityType::Attribute {
            return Err(invalid(format!(
                "Invalid order_by entity: {}",
                entity.mlflow_name()
            )));
        }
        parsed.push((key, ascending));
    }
    Ok(parsed)
}

const REGISTERED_MODELS: SmallGrammar = SmallGrammar {
    attributes: &["name"],
    // `name` is the only searchable attribute: numbers are refused like any other non-string.
    numeric: &[],
    lists: &["name"],
    check_key_before_unquoting: true,
    numbers_for_numeric_only: false,
    attribute_value_message:
        "Expected a quoted string value or a list of quoted string values for attributes.",
};

/// Parses a search-registered-models filter and checks it as MLflow's store does.
pub(crate) fn parse_registered_model_filter(filter: &str) -> StoreResult<Vec<Clause>> {
    let clauses = parse_small(&REGISTERED_MODELS, filter, false)?;
    for clause in &clauses {
        let comparator = clause.comparator.as_str();
        match clause.entity {
            EntityType::Attribute => {
                if !STRING_ATTRIBUTE_COMPARATORS.contains(&comparator) {
                    return Err(invalid(format!(
                        "Invalid comparator for attribute: {comparator}"
                    )));
                }
            }
            _ => {
                if !["=", "!=", "LIKE", "ILIKE"].contains(&comparator) {
                    return Err(invalid(format!("Invalid comparator for tag: {comparator}")));
                }
            }
        }
    }
    Ok(clauses)
}

/// The column a registered-model `order_by` key sorts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegisteredModelOrder {
    Name,
    CreationTime,
    LastUpdatedTime,
}

/// Parses search-registered-models `order_by` entries.
pub(crate) fn parse_registered_model_order_by(
    order_by: &[String],
) -> StoreResult<Vec<(RegisteredModelOrder, bool)>> {
    let mut parsed: Vec<(RegisteredModelOrder, bool)> = Vec::new();
    for clause in order_by {
        let (key, ascending) = split_order_by(clause)?;
        let key = key.trim();
        let column = match key {
            "name" => RegisteredModelOrder::Name,
            "timestamp" | "last_updated_timestamp" => RegisteredModelOrder::LastUpdatedTime,
            "creation_timestamp" => RegisteredModelOrder::CreationTime,
            other => {
                return Err(invalid(format!(
                    "Invalid order by key '{other}' specified. Valid keys are '{}'",
                    python_set(&["name", "timestamp"])
                )))
            }
        };
        if parsed.iter().any(|(seen, _)| *seen == column) {
            let listed: Vec<&str> = order_by.iter().map(String::as_str).collect();
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {}",
                python_list(&listed)
            )));
        }
        parsed.push((column, ascending));
    }
    Ok(parsed)
}

const MODEL_VERSION_ATTRIBUTES: &[&str] = &["name", "version_number", "run_id", "source_path"];
const MODEL_VERSION_ORDER_KEYS: &[&str] = &[
    "name",
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
];

const MODEL_VERSIONS: SmallGrammar = SmallGrammar {
    attributes: MODEL_VERSION_ATTRIBUTES,
    numeric: &[
        "version_number",
        "creation_timestamp",
        "last_updated_timestamp",
    ],
    lists: &["name", "run_id"],
    check_key_before_unquoting: true,
    numbers_for_numeric_only: true,
    attribute_value_message:
        "Expected a quoted string value or a list of quoted string values for attributes.",
};

/// Parses a search-model-versions filter and checks it as MLflow's store does;
/// `version_number` values are turned into integers.
pub(crate) fn parse_model_version_filter(filter: &str) -> StoreResult<Vec<Clause>> {
    let mut clauses = parse_small(&MODEL_VERSIONS, filter, false)?;
    for clause in &mut clauses {
        let comparator = clause.comparator.clone();
        match clause.entity {
            EntityType::Attribute if clause.key == "version_number" => {
                if !METRIC_COMPARATORS.contains(&comparator.as_str()) {
                    return Err(invalid(format!(
                        "Invalid comparator for attribute {}: {comparator}",
                        clause.key
                    )));
                }
                clause.value = match &clause.value {
                    Value::Int(value) => Value::Int(*value),
                    Value::Float(value) => {
                        return Err(invalid(format!(
                            "Invalid value for numeric attribute '{}': {}",
                            clause.key,
                            python_float(*value)
                        )))
                    }
                    Value::Text(text) => match text.trim().parse::<i64>() {
                        Ok(value) => Value::Int(value),
                        Err(_) => {
                            return Err(invalid(format!(
                                "Invalid value for numeric attribute '{}': {}",
                                clause.key,
                                python_repr(text)
                            )))
                        }
                    },
                    _ => {
                        return Err(invalid(format!(
                            "Invalid comparator for attribute {}: {comparator}",
                            clause.key
                        )))
                    }
                };
            }
            EntityType::Attribute => {
                let list = comparator == "IN" || comparator == "NOT IN";
                if !STRING_ATTRIBUTE_COMPARATORS.contains(&comparator.as_str())
                    || (list && clause.key != "run_id" && clause.key != "name")
                {
                    return Err(invalid(format!(
                        "Invalid comparator for attribute: {comparator}"
                    )));
                }
            }
            _ => {
                if !["=", "!=", "LIKE", "ILIKE"].contains(&comparator.as_str()) {
                    return Err(invalid(format!("Invalid comparator for tag: {comparator}")));
                }
            }
        }
    }
    Ok(clauses)
}

/// Parses search-model-versions `order_by` entries: `(key, ascending)` with MLflow's keys
/// (`name`, `version_number`, `creation_timestamp`, `last_updated_timestamp`).
pub(crate) fn parse_model_version_order_by(
    order_by: &[String],
) -> StoreResult<Vec<(String, bool)>> {
    let mut parsed: Vec<(String, bool)> = Vec::new();
    for clause in order_by {
        let (identifier, ascending) = split_order_by(clause)?;
        let (_, key) = small_identifier(&EXPERIMENTS, identifier.trim(), MODEL_VERSION_ORDER_KEYS)?;
        if !MODEL_VERSION_ORDER_KEYS.contains(&key.as_str()) {
            return Err(invalid(format!(
                "Invalid order by key '{key}' specified. Valid keys are {}",
                python_set(MODEL_VERSION_ORDER_KEYS)
            )));
        }
        if parsed.iter().any(|(seen, _)| *seen == key) {
            let listed: Vec<&str> = order_by.iter().map(String::as_str).collect();
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {}",
                python_list(&listed)
            )));
        }
        parsed.push((key, ascending));
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------------------
// Logged models (MLflow's `search_logged_model_utils.py` grammar)

/// One parsed comparison of a search-logged-models filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ModelClause {
    pub(crate) entity: EntityType,
    /// Attribute keys are canonical: `creation_timestamp`, `last_updated_timestamp` …
    pub(crate) key: String,
    pub(crate) comparator: String,
    pub(crate) value: Value,
}

/// The attributes a logged-model filter or order may name, after aliases.
pub(crate) const LOGGED_MODEL_ATTRIBUTES: &[&str] = &[
    "name",
    "model_id",
    "model_type",
    "status",
    "source_run_id",
    "creation_timestamp",
    "last_updated_timestamp",
];

/// Maps logged-model attribute aliases to their canonical key.
pub(crate) fn logged_model_attribute(key: &str) -> &str {
    match key {
        "creation_time" | "creation_timestamp_ms" => "creation_timestamp",
        "last_updated_time" | "last_updated_timestamp_ms" => "last_updated_timestamp",
        other => other,
    }
}

/// Parses a search-logged-models filter.
pub(crate) fn parse_logged_model_filter(filter: &str) -> StoreResult<Vec<ModelClause>> {
    let statements = statements(filter);
    if statements.len() > 1 {
        return Err(invalid(format!(
            "Invalid filter string: {}. Expected a single SQL expression.",
            python_repr(filter)
        )));
    }
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let not_comparisons = || {
        invalid(format!(
            "Invalid filter string: {}. Expected a list of comparisons separated by 'AND' \
             (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
            python_repr(filter)
        ))
    };
    let raw = parse_comparisons(filter, InvalidStyle::Plain).map_err(|_| not_comparisons())?;
    let mut clauses = Vec::new();
    for comparison in raw {
        let Some(token) = comparison.value else {
            return Err(invalid(format!(
                "Invalid comparison: {} {}. Expected a comparison with 3 tokens.",
                comparison.identifier, comparison.comparator
            )));
        };
        let (entity, key) = match comparison.identifier.split_once('.') {
            Some((entity, key))
                if !entity.is_empty() && entity.chars().all(|c| c.is_ascii_lowercase()) =>
            {
                let entity = match entity {
                    "attributes" => EntityType::Attribute,
                    "metrics" => EntityType::Metric,
                    "params" => EntityType::Param,
                    "tags" => EntityType::Tag,
                    other => {
                        return Err(invalid(format!(
                            "Invalid entity type: {}. Expected one of {}.",
                            python_repr(other),
                            python_list(&["attributes", "metrics", "params", "tags"])
                        )))
                    }
                };
                (entity, key.trim_matches('`').to_string())
            }
            _ => (
                EntityType::Attribute,
                comparison.identifier.trim_matches('`').to_string(),
            ),
        };
        let key = if entity == EntityType::Attribute {
            let key = logged_model_attribute(&key).to_string();
            if !LOGGED_MODEL_ATTRIBUTES.contains(&key.as_str()) {
                return Err(invalid(format!("Invalid logged model search key '{key}'")));
            }
            key
        } else {
            key
        };
        let numeric = entity == EntityType::Metric
            || (entity == EntityType::Attribute
                && (key == "creation_timestamp" || key == "last_updated_timestamp"));
        let comparator = comparison.comparator.to_uppercase();
        let allowed: &[&str] = if numeric {
            &["<", "<=", ">", ">=", "=", "!="]
        } else {
            &["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]
        };
        if !allowed.contains(&comparator.as_str()) {
            let prefix = match entity {
                EntityType::Attribute => "attributes",
                EntityType::Metric => "metrics",
                EntityType::Param => "params",
                _ => "tags",
            };
            let shown = format!("{prefix}.{key}");
            let ops: Vec<String> = allowed.iter().map(|op| python_repr(op)).collect();
            return Err(invalid(format!(
                "Invalid comparison operator for {shown}: {}. Expected one of ({}).",
                python_repr(&comparator),
                ops.join(", ")
            )));
        }
        let value = if numeric {
            let text = token.text();
            match text.parse::<f64>() {
                Ok(value) => Value::Float(value),
                Err(_) => {
                    return Err(invalid(format!(
                        "could not convert string to float: {}",
                        python_repr(text)
                    )))
                }
            }
        } else {
            match &token {
                Token::Parenthesis(text) => Value::List(parse_string_list(text)?),
                other => Value::Text(other.text().trim_matches('\'').to_string()),
            }
        };
        clauses.push(ModelClause {
            entity,
            key,
            comparator,
            value,
        });
    }
    Ok(clauses)
}

// ---------------------------------------------------------------------------------------

/// Renders a float as Python's `repr(float)` does.
pub(crate) use plinth_types::python_float;

#[cfg(test)]
mod tests;
