//! The authentication cache: what a bearer token, a session cookie or a (user, project)
//! pair resolved to a moment ago, so a request does not repeat the same three reads
//! (credential, user, project and role) that the previous one made.
//!
//! **Correctness rules** (see `docs/design/tracking.md`, "Authentication cache"):
//! - Every entry is tagged with the store's identity epoch
//!   ([`IdentityStore::identity_epoch`](plinth_metastore::IdentityStore::identity_epoch))
//!   read *before* the reads that produced it, and is served only while the epoch has not
//!   moved. The store advances the epoch after every change that can alter what a
//!   credential may do (token revoked, session ended, user deactivated or changed, password
//!   or two-factor change, membership or role set or removed, project or organization
//!   changed or deleted), whichever service made it. So in this process the very next
//!   request after such a change reads the database again. A read that raced with a change
//!   carries the older epoch and is never served.
//! - Only successes are cached; a refusal always comes from the database.
//! - Time-based limits (token expiry, session idle and absolute timeouts) are checked on
//!   every hit against the cached timestamps; a hit that looks expired falls through to
//!   the database path, which decides and cleans up.
//! - The cache is per process. Another replica (several `plinth serve` behind one
//!   database, the Kubernetes case) or another process (the `plinth admin` CLI on the same
//!   database) does not move this process's epoch, so there an entry lives at most
//!   [`AUTH_CACHE_TTL`]: a revocation takes effect everywhere within that bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use plinth_metastore::ProjectAccess;
use plinth_types::User;

use super::Credential;

/// How long an entry may be served at most (the bound for changes made by other
/// processes on the same database).
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(5);

/// The most entries per map; a full map first drops stale entries, then everything.
const MAX_ENTRIES: usize = 4096;

/// A token's resolution: its user and credential, and its expiry to check on each hit.
#[derive(Clone, Debug)]
pub(crate) struct CachedToken {
    pub(crate) user: User,
    pub(crate) credential: Credential,
    pub(crate) expires_at_ms: Option<i64>,
}

/// A session's resolution, with the limits to check on each hit.
#[derive(Clone, Debug)]
pub(crate) struct CachedSession {
    pub(crate) user: User,
    pub(crate) csrf_token: String,
    pub(crate) mfa_pending: bool,
    pub(crate) last_seen_at_ms: i64,
    pub(crate) expires_at_ms: i64,
}

/// Which project a caller named, and who the caller is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ProjectKey {
    /// `organization/project` by name.
    Named {
        user_id: String,
        organization: String,
        project: String,
    },
    /// A project by id (a scoped token's).
    Id { user_id: String, project_id: String },
}

struct Entry<T> {
    value: T,
    epoch: u64,
    at: Instant,
}

struct Map<K, T> {
    entries: RwLock<HashMap<K, Entry<T>>>,
}

impl<K: Eq + Hash, T: Clone> Map<K, T> {
    fn new() -> Self {
        Map {
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K, epoch: u64, ttl: Duration) -> Option<T> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        let entry = entries.get(key)?;
        (entry.epoch == epoch && entry.at.elapsed() < ttl).then(|| entry.value.clone())
    }

    fn put(&self, key: K, value: T, epoch: u64, ttl: Duration) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.epoch == epoch && entry.at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                epoch,
                at: Instant::now(),
            },
        );
    }
}

/// The per-process cache of authentication results (see the module's documentation).
pub(crate) struct AuthCache {
    ttl: Duration,
    tokens: Map<String, CachedToken>,
    sessions: Map<String, CachedSession>,
    projects: Map<ProjectKey, ProjectAccess>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AuthCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl AuthCache {
    /// A cache whose entries live at most `ttl` (`Duration::ZERO`: nothing is cached).
    pub(crate) fn new(ttl: Duration) -> Self {
        AuthCache {
            ttl,
            tokens: Map::new(),
            sessions: Map::new(),
            projects: Map::new(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    pub(crate) fn token(&self, token_hash: &str, epoch: u64) -> Option<CachedToken> {
        self.tokens.get(&token_hash.to_string(), epoch, self.ttl)
    }

    pub(crate) fn put_token(&self, token_hash: String, value: CachedToken, epoch: u64) {
        if self.enabled() {
            self.tokens.put(token_hash, value, epoch, self.ttl);
        }
    }

    pub(crate) fn session(&self, id_hash: &str, epoch: u64) -> Option<CachedSession> {
        self.sessions.get(&id_hash.to_string(), epoch, self.ttl)
    }

    pub(crate) fn put_session(&self, id_hash: String, value: CachedSession, epoch: u64) {
        if self.enabled() {
            self.sessions.put(id_hash, value, epoch, self.ttl);
        }
    }

    pub(crate) fn project(&self, key: &ProjectKey, epoch: u64) -> Option<ProjectAccess> {
        self.projects.get(key, epoch, self.ttl)
    }

    pub(crate) fn put_project(&self, key: ProjectKey, value: ProjectAccess, epoch: u64) {
        if self.enabled() {
            self.projects.put(key, value, epoch, self.ttl);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_only_at_its_epoch_and_within_its_lifetime() {
        let map: Map<String, u32> = Map::new();
        map.put("a".to_string(), 1, 7, Duration::from_secs(60));
        assert_eq!(
            map.get(&"a".to_string(), 7, Duration::from_secs(60)),
            Some(1)
        );
        assert_eq!(map.get(&"a".to_string(), 8, Duration::from_secs(60)), None);
        assert_eq!(map.get(&"a".to_string(), 7, Duration::ZERO), None);
    }

    #[test]
    fn a_full_map_drops_stale_entries_first() {
        let map: Map<usize, usize> = Map::new();
        let ttl = Duration::from_secs(60);
        for index in 0..MAX_ENTRIES {
            map.put(index, index, 1, ttl);
        }
        map.put(MAX_ENTRIES, MAX_ENTRIES, 2, ttl);
        let entries = map.entries.read().unwrap();
        assert_eq!(entries.len(), 1, "entries of the old epoch are gone");
        assert!(entries.contains_key(&MAX_ENTRIES));
    }

    #[test]
    fn a_zero_lifetime_caches_nothing() {
        assert!(!AuthCache::new(Duration::ZERO).enabled());
        assert!(AuthCache::new(AUTH_CACHE_TTL).enabled());
    }
}
