//! Plinth's domain services. Each service holds the backends it needs, enforces the
//! platform's rules (who may do what, what is valid), records what must be audited, and
//! exposes domain-shaped methods to the HTTP layer. Services never speak HTTP.
//!
//! Identity and access come first: every later capability asks [`IdentityService`] for a
//! [`ProjectPass`] before touching a project's resources.

pub mod clock;
mod error;
pub mod identity;
pub mod runtime;
pub mod tracking;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CoreError, CoreResult};
pub use identity::{
    AuditQuery, AuthSettingsView, ClientInfo, Credential, Directory, DirectoryInfo, DirectoryLogin,
    DirectoryLookup, DirectorySync, ExternalAccount, IdentityService, IdentitySettings, LinkPolicy,
    LocalAuthenticator, LoginOutcome, MfaEnrollment, NewAccount, NewTokenRequest, OrgPass,
    PasswordAuthenticator, Principal, ProjectPass, RoleGrants, SessionCookie, UserUpdate,
    AUTH_CACHE_TTL,
};
pub use runtime::{
    AppRoute, AppsOrigin, EnvironmentProvider, RuntimeService, RuntimeSettings, WhenUnsandboxed,
    APP_VISITOR_ROLE,
};
pub use tracking::{ProjectSelector, TrackingPass, TrackingService};
