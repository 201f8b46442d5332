//! What `experiments`, `runs`, `models` and `artifacts` share: the project's MLflow API
//! (`plinth-client`'s [`Mlflow`], reached at `/projects/{org}/{project}/api/2.0/…` with
//! the caller's token), finding an experiment by name or id with an error that says where
//! to look, following page tokens, and `KEY=VALUE` tags.

use clap::Args;
use plinth_client::mlflow::{Experiment, Mlflow, Search, Tag};
use plinth_client::ClientError;

use super::project::{self, ProjectArgs};
use super::{ProjectRef, RemoteArgs, Session};
use crate::cli::Failure;

/// MLflow's error code for something that does not exist.
const NOT_FOUND: &str = "RESOURCE_DOES_NOT_EXIST";

/// The flags every tracking command has: server, `--json`, `--project`.
#[derive(Debug, Args)]
pub struct TrackingArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// The flags of a listing: MLflow's filter and order, and how many to show.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// MLflow's filter, e.g. `metrics.loss < 0.5 and params.lr = '0.01'` (runs) or
    /// `name LIKE 'churn%'`.
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// MLflow's order, e.g. `metrics.loss ASC` or `name DESC` (repeatable).
    #[arg(long, value_name = "ORDER")]
    pub order_by: Vec<String>,
    /// At most this many (pages are followed until then).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub limit: u32,
}

impl SearchArgs {
    /// Returns the search these flags describe (first page, size still to set).
    pub fn search(&self) -> Search {
        Search {
            filter: self.filter.clone(),
            order_by: self.order_by.clone(),
            ..Search::default()
        }
    }

    /// Returns `--limit`.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }
}

/// A session and the project its tracking commands act in.
pub struct Tracking {
    pub session: Session,
    pub project: ProjectRef,
}

impl Tracking {
    /// Connects and picks the project (see [`project::resolve`]).
    pub async fn open(session: Session, args: &ProjectArgs) -> Result<Tracking, Failure> {
        let (project, _) = project::resolve(&session, args).await?;
        Ok(Tracking { session, project })
    }

    /// Returns the project's MLflow API.
    pub fn api(&self) -> Mlflow<'_> {
        self.session
            .client()
            .mlflow(&self.project.organization, &self.project.project)
    }

    /// Turns a failed call into a one-line failure with the server's message.
    pub fn fail(&self, error: ClientError) -> Failure {
        self.session.failure(error)
    }

    /// Turns a failed lookup into a failure: "not found" names the project and `how_to_find`,
    /// anything else is the server's message.
    pub fn fail_lookup(&self, error: ClientError, what: &str, how_to_find: &str) -> Failure {
        if is_not_found(&error) {
            Failure::runtime(format!(
                "{what} not found in project `{}`; {how_to_find}",
                self.project
            ))
        } else {
            self.fail(error)
        }
    }

    /// Finds an experiment by id (all digits) or name; deleted ones are found too.
    pub async fn experiment(&self, id_or_name: &str) -> Result<Experiment, Failure> {
        let api = self.api();
        let looks_like_id =
            !id_or_name.is_empty() && id_or_name.bytes().all(|byte| byte.is_ascii_digit());
        let found = if looks_like_id {
            match api.get_experiment(id_or_name).await {
                // Names may be digits too.
                Err(error) if is_not_found(&error) => api.get_experiment_by_name(id_or_name).await,
                found => found,
            }
        } else {
            api.get_experiment_by_name(id_or_name).await
        };
        found.map_err(|error| {
            self.fail_lookup(
                error,
                &format!("experiment `{id_or_name}`"),
                "`plinth experiments list` shows its experiments (`--all` also the deleted ones)",
            )
        })
    }
}

/// Returns whether the server said the thing does not exist.
pub fn is_not_found(error: &ClientError) -> bool {
    matches!(error, ClientError::Api { code, .. } if code == NOT_FOUND)
}

/// Parses `KEY=VALUE` (an empty value is fine, an empty key is not).
pub fn parse_tag(text: &str) -> Result<Tag, String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok(Tag {
            key: key.to_string(),
            value: value.to_string(),
        }),
        _ => Err(format!("`{text}` is not `KEY=VALUE`")),
    }
}

/// Runs `search` page after page until `limit` items or the last page: `fetch` gets the
/// search with its page size and token set, and returns a page and the next token. Returns
/// the items and whether more were left.
pub async fn collect_pages<T>(
    mut search: Search,
    limit: usize,
    max_page_size: usize,
    mut fetch: impl AsyncFnMut(&Search) -> Result<(Vec<T>, Option<String>), Failure>,
) -> Result<(Vec<T>, bool), Failure> {
    let mut items = Vec::new();
    search.page_token = None;
    while items.len() < limit {
        let page_size = (limit - items.len()).min(max_page_size).max(1);
        search.max_results = i64::try_from(page_size).unwrap_or(i64::MAX);
        let (page, next) = fetch(&search).await?;
        items.extend(page);
        match next {
            Some(next) if !next.is_empty() => search.page_token = Some(next),
            _ => return Ok((items, false)),
        }
    }
    // A full page with a token: there may be more (or an empty last page).
    items.truncate(limit);
    Ok((items, search.page_token.is_some()))
}

/// Returns `mlflow.`-free tags as `k=v, …` for tables.
pub fn user_tags(tags: &[Tag]) -> String {
    tags.iter()
        .filter(|tag| !tag.key.starts_with("mlflow."))
        .map(|tag| format!("{}={}", tag.key, tag.value))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(
            parse_tag("team=ml=x").unwrap(),
            Tag {
                key: "team".into(),
                value: "ml=x".into()
            }
        );
        assert_eq!(parse_tag("empty=").unwrap().value, "");
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("novalue").is_err());
    }

    #[test]
    fn pages_are_followed_up_to_the_limit() {
        let pages = |limit: usize| {
            super::super::block_on(collect_pages(Search::default(), limit, 2, async |search| {
                let start: usize = search
                    .page_token
                    .as_ref()
                    .map_or(0, |token| token.parse().unwrap());
                let size = usize::try_from(search.max_results).unwrap();
                let end = (start + size).min(5);
                let next = (end < 5).then(|| end.to_string());
                Ok(((start..end).collect::<Vec<_>>(), next))
            }))
            .unwrap()
        };
        assert_eq!(pages(10), (vec![0, 1, 2, 3, 4], false));
        assert_eq!(pages(3), (vec![0, 1, 2], true));
        assert_eq!(pages(5).0, vec![0, 1, 2, 3, 4]);
    }
}
