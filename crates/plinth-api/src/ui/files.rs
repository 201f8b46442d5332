//! A project's Files page: its folders and files (what S3 clients see in the bucket
//! `{organization}.{project}`), with downloads, and how to reach them with an S3 client.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use plinth_artifacts::ObjectKey;
use serde::Deserialize;

use super::layout::page;
use super::session::PageUser;
use super::{error_page, format_ms, project_crumbs, project_tabs, shown_message, viewer_pass};
use crate::mlflow::artifacts::{artifact_response, Disposition};
use crate::{ApiError, AppState};

fn files_error_page(error: plinth_files::FilesError) -> Response {
    let error = ApiError::from(error);
    error_page(error.status(), &shown_message(&error))
}

/// Which folder the page shows (`path`, without a trailing `/`), or which file a download
/// is (`key`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FilesQuery {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

/// `GET /projects/{organization}/{project}/files[?path=FOLDER]`.
pub(crate) async fn list(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
    Query(query): Query<FilesQuery>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let bucket_name = plinth_files::names::bucket_name(&organization, &project);
    let bucket = match state
        .files()
        .bucket(&user.principal, &bucket_name, false)
        .await
    {
        Ok(bucket) => bucket,
        Err(error) => return files_error_page(error),
    };
    let folder = match query
        .path
        .as_deref()
        .map(|path| path.trim_matches('/'))
        .filter(|path| !path.is_empty())
        .map(plinth_files::names::object_key)
        .transpose()
    {
        Ok(folder) => folder,
        Err(error) => return files_error_page(error),
    };
    let listing = match bucket.files().list_directory(folder.as_ref()).await {
        Ok(listing) => listing,
        Err(error) => return files_error_page(error.into()),
    };
    let base = format!("/projects/{organization}/{project}/files");
    let name_in = |key: &ObjectKey| {
        key.as_str()
            .rsplit_once('/')
            .map_or(key.as_str(), |(_, name)| name)
            .to_string()
    };
    let mut trail: Vec<(String, String)> = Vec::new();
    if let Some(folder) = &folder {
        let mut so_far = String::new();
        for segment in folder.segments() {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(segment);
            trail.push((so_far.clone(), segment.to_string()));
        }
    }
    let endpoint = state.files().endpoint_url();
    page(
        &user.viewer,
        "Files",
        "/projects",
        html! {
            (project_crumbs(&pass))
            h1 { "Files" }
            (project_tabs(&pass, "files"))
            p.muted {
                "The project's files, also bucket " code #bucket-name { (bucket_name) } " of the S3 endpoint "
                code { (endpoint) } " with an access key from your "
                a href="/profile#s3-keys" { "profile" } ": "
                code { "aws --endpoint-url " (endpoint) " s3 cp FILE s3://" (bucket_name) "/" }
            }
            nav.crumbs aria-label="Folder" {
                ol {
                    li { a href=(base) { (bucket_name) } }
                    @for (path, name) in &trail {
                        li { a href=(format!("{base}?path={}", encode(path))) { (name) } }
                    }
                }
            }
            table #files {
                thead { tr { th { "Name" } th { "Size" } th { "Modified" } } }
                tbody {
                    @for directory in &listing.directories {
                        tr {
                            td { a.folder href=(format!("{base}?path={}", encode(directory.as_str()))) { (name_in(directory)) "/" } }
                            td { "—" }
                            td { "—" }
                        }
                    }
                    @for object in &listing.objects {
                        tr {
                            td { a href=(format!("{base}/download?key={}", encode(object.key.as_str()))) download { (name_in(&object.key)) } }
                            td { (plinth_core::runtime::format_bytes(object.size)) }
                            td { (format_ms(object.last_modified_ms)) }
                        }
                    }
                    @if listing.directories.is_empty() && listing.objects.is_empty() {
                        tr { td colspan="3" { "No files here yet." } }
                    }
                }
            }
        },
    )
    .into_response()
}

/// `GET /projects/{organization}/{project}/files/download?key=KEY`: the file, as a download.
pub(crate) async fn download(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
    Query(query): Query<FilesQuery>,
) -> Response {
    let bucket_name = plinth_files::names::bucket_name(&organization, &project);
    let bucket = match state
        .files()
        .bucket(&user.principal, &bucket_name, false)
        .await
    {
        Ok(bucket) => bucket,
        Err(error) => return files_error_page(error),
    };
    let key = match plinth_files::names::object_key(query.key.as_deref().unwrap_or_default()) {
        Ok(key) => key,
        Err(error) => return files_error_page(error),
    };
    match bucket.files().get_stream(&key).await {
        Ok((info, stream)) => {
            let name = key
                .as_str()
                .rsplit_once('/')
                .map_or(key.as_str(), |(_, name)| name)
                .to_string();
            artifact_response(info.size, stream, &name, Disposition::Attachment)
        }
        Err(error) => files_error_page(error.into()),
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use bytes::Bytes;
    use serde_json::json;

    use crate::tests::{app, browser_login, json_request, page_as, send, ADMIN_PASSWORD};

    #[tokio::test]
    async fn the_files_page_lists_folders_and_serves_downloads() {
        let app = app().await;
        let token = app.admin_token.clone();
        for (uri, body) in [
            ("/api/v1/orgs", json!({ "name": "acme", "owner": "admin" })),
            ("/api/v1/orgs/acme/projects", json!({ "name": "churn" })),
        ] {
            let answer = send(&app.router, json_request("POST", uri, Some(&token), &body)).await;
            assert!(answer.status.is_success(), "{uri}: {}", answer.body);
        }
        let project = send(
            &app.router,
            crate::tests::get_as("/api/v1/orgs/acme/projects/churn", &token),
        )
        .await
        .json();
        let project_id = project["project"]["id"]
            .as_str()
            .or_else(|| project["id"].as_str())
            .unwrap_or_else(|| panic!("{project}"))
            .to_string();
        let key = plinth_artifacts::ObjectKey::parse(&format!(
            "projects/{project_id}/files/data/a b.csv"
        ))
        .unwrap();
        app.state
            .artifacts()
            .put(&key, Bytes::from_static(b"x,y\n1,2\n"))
            .await
            .unwrap();
        let (cookie, _) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;

        let root = send(&app.router, page_as("/projects/acme/churn/files", &cookie)).await;
        assert_eq!(root.status, StatusCode::OK, "{}", root.body);
        assert!(root.body.contains("acme.churn"), "{}", root.body);
        assert!(root.body.contains("?path=data\""), "{}", root.body);
        let folder = send(
            &app.router,
            page_as("/projects/acme/churn/files?path=data", &cookie),
        )
        .await;
        assert!(folder.body.contains("a b.csv"), "{}", folder.body);
        assert!(
            folder.body.contains("download?key=data%2Fa%20b%2Ecsv"),
            "{}",
            folder.body
        );
        let download = send(
            &app.router,
            page_as(
                "/projects/acme/churn/files/download?key=data%2Fa%20b.csv",
                &cookie,
            ),
        )
        .await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.body, "x,y\n1,2\n");
        assert!(download
            .header("content-disposition")
            .starts_with("attachment"));
        for refused in [
            "/projects/acme/churn/files?path=..%2F..",
            "/projects/acme/churn/files/download?key=..%2Fsecret",
            "/projects/acme/churn/files/download?key=data%2F%2e%2e%2Fx",
        ] {
            let answer = send(&app.router, page_as(refused, &cookie)).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{refused}");
        }
        let missing = send(
            &app.router,
            page_as(
                "/projects/acme/churn/files/download?key=nothing.csv",
                &cookie,
            ),
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }
}
