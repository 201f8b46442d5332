//! The identity REST API: login, sign-up, the caller's profile, MFA and tokens, user
//! administration, organizations, projects, members and the audit log.

mod extract;
mod federation;
mod handlers;

pub use extract::{
    authenticate, authenticate_caller, client_info, constant_time_eq, is_unsafe, Authenticated,
    ClientInfoExtractor, PendingOrAuthenticated, CSRF_HEADER, SESSION_COOKIE,
};
pub(crate) use federation::*;
pub(crate) use handlers::*;
