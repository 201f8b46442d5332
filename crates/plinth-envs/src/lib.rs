//! Plinth's environments: named, versioned software environments that jobs run in.
//!
//! An environment belongs to a project, or is global (admins define those for everyone).
//! Every change makes a new immutable version; a version is *resolved* once into a lock
//! (exact versions with their archives' hashes, for one Python and platform) and *built*
//! from that lock into a Python virtual environment keyed by the lock's hash, shared by
//! everything in its scope that uses it. Resolution and builds run package build scripts,
//! which are user code: they run as sandboxed workloads through the executor, never as the
//! server's user.
//!
//! This crate owns the model's checks (`validate`), the [`EnvironmentStore`] trait with its
//! SQL ([`SqlEnvironmentStore`], SQLite and PostgreSQL through sea-query) and conformance
//! suite, `uv` and the build cache (`uv`, `build`), and [`EnvironmentService`], which
//! authorizes every call. It knows nothing of HTTP. The wire types are in `plinth-types`.

mod build;
mod error;
pub mod image;
pub mod registry;
mod service;
mod store;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
mod uv;
mod validate;

pub use build::{host_platform, lock_hash, CacheLayout, COMPLETE_MARKER, LOCK_FORMAT};
pub use error::{EnvError, EnvResult};
pub use service::{EnvironmentService, EnvironmentSettings, PreparedEnvironment, Resolved};

pub use store::{EnvironmentStore, NewEnvironment, ResolutionOutcome, SqlEnvironmentStore};
pub use uv::{
    ensure_uv, find_python, host_index_environment, host_python_version, Interpreter, Uv, UvSource,
    UV_VERSION,
};
pub use validate::{validate_name, validate_python, validate_spec, EnvironmentRef};

#[cfg(test)]
mod sqlite_suite {
    crate::environment_store_suite!(crate::testsuite::sqlite_fixture());
}

#[cfg(all(test, feature = "postgres"))]
mod postgres_suite {
    crate::environment_store_suite!(
        crate::testsuite::postgres_fixture(),
        #[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
    );
}
