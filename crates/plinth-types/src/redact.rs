/// Returns `url` with any password replaced by `***`, for logs and error messages.
///
/// Works on strings that are not valid URLs too: everything between `://` and the last `@`
/// before the path is treated as user info.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            if user_info.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:p%40ss@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(
            redact_url("postgres://u:a@b@db/x?sslmode=require"),
            "postgres://u:***@db/x?sslmode=require"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
