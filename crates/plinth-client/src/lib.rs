//! A typed HTTP client of Plinth's public REST API (`/api/v1/…`): login and logout, the
//! caller's profile and tokens, users, organizations and projects. The `plinth` CLI and the
//! end-to-end tests use it; it owns no state beyond one server URL and one bearer token,
//! and it does not store credentials (the CLI does).
//!
//! **Plain http only, for now.** `reqwest` is built without a TLS feature: enabling one
//! would pull a second rustls crypto provider next to the `ring` one the binary uses, and
//! rustls refuses to pick between two at the first handshake. An `https://` server URL is
//! refused with [`ClientError::InvalidUrl`]; put a TLS-terminating proxy on the same host,
//! or wait for TLS support to land here.
//!
//! Every failure is a [`ClientError`]: the server's own `{code, message}` error answers
//! become [`ClientError::Api`] with the message untouched, so callers can show it as is.

mod client;
mod error;
mod wire;

pub use client::{parse_server_url, Client};
pub use error::{ClientError, ClientResult};
pub use wire::{
    CreateOrganizationRequest, CreateProjectRequest, CreateUserRequest, LoginRequest,
    LoginResponse, MeResponse, ProjectListQuery, ProjectView, TokenRequest, TokenResponse,
    UpdateUserRequest, UserListQuery,
};

/// The shared wire types this client answers with, re-exported for convenience.
pub use plinth_types::{
    ApiTokenInfo, Member, OrgMember, OrgRole, Organization, Project, Role, User,
};

#[cfg(test)]
mod tests;
