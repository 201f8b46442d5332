use serde::Serialize;

/// The kind of an error, independent of the crate that raised it.
///
/// Every crate's error enum maps each variant to one kind; the HTTP layer maps each kind
/// to one status code, in exactly one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or a field has a bad value.
    InvalidArgument,
    /// The addressed object does not exist (or the caller may not know it exists).
    NotFound,
    /// An object with the same identity already exists.
    AlreadyExists,
    /// The request conflicts with the current state of the object.
    Conflict,
    /// The request body is larger than the server accepts.
    PayloadTooLarge,
    /// Too many attempts; retry later (login throttling).
    RateLimited,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The password was right but the account's second factor is due: send the TOTP code.
    MfaRequired,
    /// The caller is authenticated but lacks the needed permission.
    Forbidden,
    /// A dependency (database, object store) cannot be reached right now.
    Unavailable,
    /// A bug or an unexpected failure; details are logged, never returned.
    Internal,
}

impl ErrorKind {
    /// Every kind, for clients that map wire names back to kinds.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Conflict,
        ErrorKind::PayloadTooLarge,
        ErrorKind::RateLimited,
        ErrorKind::Unauthenticated,
        ErrorKind::MfaRequired,
        ErrorKind::Forbidden,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    /// Returns the kind whose wire name is `name`.
    pub fn from_wire_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// Returns the HTTP status code for this kind. This is the only kind → status table.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Unauthenticated | ErrorKind::MfaRequired => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
        }
    }

    /// Returns the kind's wire name, as it appears in `{"code": …}`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::MfaRequired => "mfa_required",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Implemented by every crate error so the HTTP layer can pick a status without knowing the crate.
pub trait HasErrorKind {
    /// Returns the kind of this error.
    fn kind(&self) -> ErrorKind;
}

/// The JSON body of every error answered by the platform API: `{"code": …, "message": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The machine-readable error kind.
    pub code: ErrorKind,
    /// A lowercase, human-readable message naming the field or object and the reason.
    pub message: String,
}

impl ErrorBody {
    /// Returns the body sent for any server-side failure: it never carries internals.
    pub fn internal() -> Self {
        ErrorBody {
            code: ErrorKind::Internal,
            message: "internal server error; the server log has the details".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exhaustive match: a new variant fails to compile here until it has a place in
    /// `ErrorKind::ALL`.
    fn position(kind: ErrorKind) -> usize {
        match kind {
            ErrorKind::InvalidArgument => 0,
            ErrorKind::NotFound => 1,
            ErrorKind::AlreadyExists => 2,
            ErrorKind::Conflict => 3,
            ErrorKind::PayloadTooLarge => 4,
            ErrorKind::RateLimited => 5,
            ErrorKind::Unauthenticated => 6,
            ErrorKind::MfaRequired => 7,
            ErrorKind::Forbidden => 8,
            ErrorKind::Unavailable => 9,
            ErrorKind::Internal => 10,
        }
    }

    #[test]
    fn all_lists_every_kind_once() {
        for (index, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(position(kind), index, "{kind:?}");
            assert_eq!(ErrorKind::from_wire_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_wire_name("nope"), None);
    }

    #[test]
    fn wire_names_match_serde_and_statuses_are_errors() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert!((400..600).contains(&kind.http_status()), "{kind:?}");
        }
    }
}
