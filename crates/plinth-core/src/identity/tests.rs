//! Service tests on a real SQLite store, with a manual clock and cheap password hashing.

use std::sync::Arc;
use std::time::Duration;

use plinth_auth::{HashingParams, PasswordHasher, SecretBox, Totp};
use plinth_metastore::testsuite::{open_sqlite_temp, TestStore};
use plinth_types::Role;

use super::*;
use crate::ManualClock;

const START_MS: i64 = 1_800_000_000_000;

struct Fixture {
    service: IdentityService,
    clock: ManualClock,
    admin: Principal,
    _store: TestStore,
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: "192.0.2.7".to_string(),
        user_agent: "tests".to_string(),
    }
}

async fn fixture() -> Fixture {
    fixture_with(IdentitySettings::default()).await
}

async fn fixture_with(settings: IdentitySettings) -> Fixture {
    let store = open_sqlite_temp().await;
    let clock = ManualClock::new(START_MS);
    let hasher = PasswordHasher::new(HashingParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    });
    let service = IdentityService::new(
        store.shared(),
        hasher,
        SecretBox::random(),
        settings,
        Arc::new(clock.clone()),
    );
    service
        .bootstrap_admin(Some("keeper-of-the-platform-77".to_string()))
        .await
        .unwrap();
    let outcome = service
        .login("admin", "keeper-of-the-platform-77", &client())
        .await
        .unwrap();
    let cookie = service.start_session(&outcome, &client()).await.unwrap();
    let (admin, _) = service.authenticate_session(&cookie.id).await.unwrap();
    Fixture {
        service,
        clock,
        admin,
        _store: store,
    }
}

impl Fixture {
    async fn user(&self, name: &str) -> Principal {
        self.service
            .create_user(
                &self.admin,
                &NewAccount {
                    username: name.to_string(),
                    email: format!("{name}@example.com"),
                    password: "violet-harbour-thimble-42".to_string(),
                    ..NewAccount::default()
                },
                &client(),
            )
            .await
            .unwrap();
        self.session(name).await
    }

    async fn session(&self, name: &str) -> Principal {
        let outcome = self
            .service
            .login(name, "violet-harbour-thimble-42", &client())
            .await
            .unwrap();
        let cookie = self
            .service
            .start_session(&outcome, &client())
            .await
            .unwrap();
        self.service
            .authenticate_session(&cookie.id)
            .await
            .unwrap()
            .0
    }

    /// Logs `name` in and returns the session cookie's value.
    async fn cookie(&self, name: &str) -> String {
        let outcome = self
            .service
            .login(name, "violet-harbour-thimble-42", &client())
            .await
            .unwrap();
        self.service
            .start_session(&outcome, &client())
            .await
            .unwrap()
            .id
    }

    /// Authenticates `secret` twice, so the second answer comes from the cache.
    async fn token_twice(&self, secret: &str) -> Principal {
        self.service.authenticate_token(secret).await.unwrap();
        self.service.authenticate_token(secret).await.unwrap()
    }

    /// Authenticates a session cookie twice, so the second answer comes from the cache.
    async fn session_twice(&self, cookie: &str) -> Principal {
        self.service.authenticate_session(cookie).await.unwrap();
        self.service.authenticate_session(cookie).await.unwrap().0
    }

    async fn token(&self, principal: &Principal, request: NewTokenRequest) -> Principal {
        let (_, secret) = self
            .service
            .create_token(principal, &request, &client())
            .await
            .unwrap();
        self.service.authenticate_token(&secret).await.unwrap()
    }

    async fn actions(&self) -> Vec<String> {
        let query = AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        };
        self.service
            .list_audit(&self.admin, query)
            .await
            .unwrap()
            .into_iter()
            .map(|event| event.action)
            .collect()
    }
}

#[tokio::test]
async fn bootstrap_creates_one_admin_and_generates_a_password_once() {
    let store = open_sqlite_temp().await;
    let service = IdentityService::new(
        store.shared(),
        PasswordHasher::new(HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }),
        SecretBox::random(),
        IdentitySettings::default(),
        Arc::new(ManualClock::new(START_MS)),
    );
    let generated = service
        .bootstrap_admin(None)
        .await
        .unwrap()
        .expect("a generated password");
    assert_eq!(generated.len(), 24);
    assert_eq!(
        service.bootstrap_admin(None).await.unwrap(),
        None,
        "only on the first start"
    );
    let outcome = service.login("admin", &generated, &client()).await.unwrap();
    assert!(outcome.user().is_admin);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer_and_lock_out() {
    let f = fixture().await;
    f.user("alice").await;
    let unknown = f
        .service
        .login("nobody", "whatever-password", &client())
        .await
        .unwrap_err();
    let wrong = f
        .service
        .login("alice", "wrong-password-123", &client())
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), wrong.to_string());
    assert_eq!(wrong.to_string(), "invalid username or password");
    for _ in 0..4 {
        let _ = f
            .service
            .login("alice", "wrong-password-123", &client())
            .await;
    }
    let locked = f
        .service
        .login("alice", "violet-harbour-thimble-42", &client())
        .await
        .unwrap_err();
    assert!(matches!(locked, CoreError::RateLimited(_)), "{locked:?}");
    assert!(
        locked.to_string().contains("try again in 15 minute(s)"),
        "{locked}"
    );
    f.clock.advance(15 * 60 * 1000 + 1);
    f.service
        .login("alice", "violet-harbour-thimble-42", &client())
        .await
        .expect("lock over");
    let actions = f.actions().await;
    assert!(
        actions.contains(&"login.lockout".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"login.locked".to_string()), "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "login.failure").count(), 6);
}

#[tokio::test]
async fn deactivation_ends_sessions_and_tokens_at_once() {
    let f = fixture().await;
    let alice = f.user("alice").await;
    let token = f
        .token(
            &alice,
            NewTokenRequest {
                name: "cli".to_string(),
                ..NewTokenRequest::default()
            },
        )
        .await;
    let (_, secret) = f
        .service
        .create_token(
            &alice,
            &NewTokenRequest {
                name: "ci".to_string(),
                ..NewTokenRequest::default()
            },
            &client(),
        )
        .await
        .unwrap();
    let Credential::Session { .. } = alice.credential() else {
        panic!("session expected")
    };
    let deactivate = UserUpdate {
        is_active: Some(false),
        ..UserUpdate::default()
    };
    f.service
        .update_user(&f.admin, "alice", deactivate, &client())
        .await
        .unwrap();
    assert!(f
        .service
        .authenticate_token(&secret)
        .await
        .unwrap_err()
        .to_string()
        .contains("deactivated"));
    let login = f
        .service
        .login("alice", "violet-harbour-thimble-42", &client())
        .await
        .unwrap_err();
    assert_eq!(
        login.to_string(),
        "this account is deactivated; ask an administrator"
    );
    drop(token);
    let reactivate = UserUpdate {
        is_active: Some(true),
        ..UserUpdate::default()
    };
    f.service
        .update_user(&f.admin, "alice", reactivate, &client())
        .await
        .unwrap();
    f.service
        .authenticate_token(&secret)
        .await
        .expect("works again");
    assert!(f.actions().await.contains(&"user.reactivate".to_string()));
}

#[tokio::test]
async fn tokens_expire_and_are_revoked() {
    let f = fixture().await;
    let alice = f.user("alice").await;
    let request = NewTokenRequest {
        name: "short".to_string(),
        lifetime: Some(Duration::from_secs(60)),
        ..NewTokenRequest::default()
    };
    let (info, secret) = f
        .service
        .create_token(&alice, &request, &client())
        .await
        .unwrap();
    assert!(secret.starts_with("plt_"));
    f.service.authenticate_token(&secret).await.unwrap();
    f.clock.advance(61_000);
    assert_eq!(
        f.service
            .authenticate_token(&secret)
            .await
            .unwrap_err()
            .to_string(),
        "invalid token: expired"
    );
    let (other, other_secret) = f
        .service
        .create_token(
            &alice,
            &NewTokenRequest {
                name: "long".to_string(),
                ..NewTokenRequest::default()
            },
            &client(),
        )
        .await
        .unwrap();
    f.service
        .revoke_token(&alice, &other.id, &client())
        .await
        .unwrap();
    assert_eq!(
        f.service
            .authenticate_token(&other_secret)
            .await
            .unwrap_err()
            .to_string(),
        "invalid token: revoked"
    );
    let listed = f.service.list_tokens(&alice).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .any(|t| t.id == info.id && t.last_used_at_ms.is_some()));
    let too_long = NewTokenRequest {
        name: "x".to_string(),
        lifetime: Some(Duration::from_secs(400 * 86_400)),
        ..NewTokenRequest::default()
    };
    assert!(f
        .service
        .create_token(&alice, &too_long, &client())
        .await
        .unwrap_err()
        .to_string()
        .contains("365 days"));
    let bob = f.user("bob").await;
    assert!(matches!(
        f.service.revoke_token(&bob, &info.id, &client()).await,
        Err(CoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn sessions_end_when_idle_or_too_old_and_on_logout() {
    let f = fixture().await;
    f.user("alice").await;
    let outcome = f
        .service
        .login("alice", "violet-harbour-thimble-42", &client())
        .await
        .unwrap();
    let cookie = f.service.start_session(&outcome, &client()).await.unwrap();
    for _ in 0..7 {
        f.clock.advance(90 * 60 * 1000);
        f.service
            .authenticate_session(&cookie.id)
            .await
            .expect("active within the idle timeout");
    }
    f.clock.advance(2 * 3600 * 1000);
    let error = f
        .service
        .authenticate_session(&cookie.id)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "your session has ended; log in again",
        "absolute timeout"
    );

    let cookie = f.service.start_session(&outcome, &client()).await.unwrap();
    f.clock.advance(2 * 3600 * 1000);
    assert!(
        f.service.authenticate_session(&cookie.id).await.is_err(),
        "idle timeout"
    );

    let cookie = f.service.start_session(&outcome, &client()).await.unwrap();
    let (principal, _) = f.service.authenticate_session(&cookie.id).await.unwrap();
    f.service.logout(&principal, &client()).await.unwrap();
    assert!(
        f.service.authenticate_session(&cookie.id).await.is_err(),
        "logout ends the session"
    );
}

#[tokio::test]
async fn mfa_enrollment_then_login_with_totp_or_a_recovery_code() {
    let f = fixture().await;
    let alice = f.user("alice").await;
    let enrollment = f.service.begin_mfa_enrollment(&alice).await.unwrap();
    assert!(enrollment
        .otpauth_url
        .starts_with("otpauth://totp/Plinth:alice?"));
    assert!(enrollment.qr_svg.contains("<svg"));
    let totp = Totp::new(&enrollment.secret, "Plinth", "alice").unwrap();
    let now_seconds = || (f.clock.now_ms() / 1000) as u64;
    let bad = f
        .service
        .confirm_mfa_enrollment(&alice, "000000", &client())
        .await
        .unwrap_err();
    assert!(bad.to_string().starts_with("invalid `code`"), "{bad}");
    let codes = f
        .service
        .confirm_mfa_enrollment(&alice, &totp.code_at(now_seconds()), &client())
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);

    let outcome = f
        .service
        .login("alice", "violet-harbour-thimble-42", &client())
        .await
        .unwrap();
    assert!(outcome.mfa_required());
    assert!(
        f.service
            .issue_login_token(&outcome, "cli".into(), None, &client())
            .await
            .is_err(),
        "no token before the TOTP step"
    );
    // The code used to enroll cannot be replayed.
    let replay = f
        .service
        .verify_second_factor(&outcome, &totp.code_at(now_seconds()), &client())
        .await;
    assert!(replay.is_err());
    f.clock.advance(30_000);
    let done = f
        .service
        .verify_second_factor(&outcome, &totp.code_at(now_seconds()), &client())
        .await
        .expect("fresh code");
    f.service
        .issue_login_token(&done, "cli".into(), None, &client())
        .await
        .expect("token after the TOTP step");
    f.service
        .verify_second_factor(&outcome, &codes[0].to_uppercase(), &client())
        .await
        .expect("recovery code");
    assert!(
        f.service
            .verify_second_factor(&outcome, &codes[0], &client())
            .await
            .is_err(),
        "used once only"
    );
    assert_eq!(f.service.recovery_codes_left(&alice).await.unwrap(), 9);

    f.service
        .reset_mfa(&f.admin, "alice", &client())
        .await
        .unwrap();
    assert!(!f
        .service
        .login("alice", "violet-harbour-thimble-42", &client())
        .await
        .unwrap()
        .mfa_required());
    let actions = f.actions().await;
    for action in ["mfa.enable", "mfa.reset", "login.password"] {
        assert!(
            actions.contains(&action.to_string()),
            "{action} not audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn project_access_follows_roles_and_hides_foreign_projects() {
    let f = fixture().await;
    let owner = f.user("olga").await;
    let viewer = f.user("victor").await;
    let stranger = f.user("sam").await;
    f.service
        .create_organization(&f.admin, "acme", "Acme", Some("olga"), &client())
        .await
        .unwrap();
    let project = f
        .service
        .create_project(&owner, "acme", "churn", "Churn", "", &client())
        .await
        .unwrap();
    assert_eq!(project.name.as_str(), "churn");
    f.service
        .set_project_member(&owner, "acme", "churn", "victor", Role::Viewer, &client())
        .await
        .unwrap();

    let pass = f
        .service
        .authorize_project(&viewer, "acme", "churn", Role::Viewer)
        .await
        .unwrap();
    assert_eq!(pass.role(), Some(Role::Viewer));
    let denied = f
        .service
        .authorize_project(&viewer, "acme", "churn", Role::Contributor)
        .await
        .unwrap_err();
    assert_eq!(
        denied.to_string(),
        "needs the `contributor` role in project `acme/churn`; you have `viewer`"
    );
    let hidden = f
        .service
        .authorize_project(&stranger, "acme", "churn", Role::Viewer)
        .await
        .unwrap_err();
    assert_eq!(hidden.to_string(), "project `acme/churn` not found");
    let missing = f
        .service
        .authorize_project(&stranger, "acme", "nope", Role::Viewer)
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        hidden.to_string().replace("churn", "nope"),
        "existence does not leak"
    );
    f.service
        .authorize_project(&f.admin, "acme", "churn", Role::Owner)
        .await
        .expect("admins are above all roles");

    // Scoped and read-only tokens narrow what a credential reaches.
    f.service
        .create_project(&owner, "acme", "fraud", "", "", &client())
        .await
        .unwrap();
    let scoped = f
        .token(
            &owner,
            NewTokenRequest {
                name: "scoped".into(),
                project: Some(("acme".into(), "churn".into())),
                ..Default::default()
            },
        )
        .await;
    f.service
        .authorize_project(&scoped, "acme", "churn", Role::Owner)
        .await
        .unwrap();
    assert!(matches!(
        f.service
            .authorize_project(&scoped, "acme", "fraud", Role::Viewer)
            .await,
        Err(CoreError::NotFound { .. })
    ));
    assert_eq!(
        f.service
            .list_projects(&scoped, false, None)
            .await
            .unwrap()
            .len(),
        1
    );
    let read_only = f
        .token(
            &owner,
            NewTokenRequest {
                name: "ro".into(),
                read_only: true,
                ..Default::default()
            },
        )
        .await;
    f.service
        .authorize_project(&read_only, "acme", "churn", Role::Viewer)
        .await
        .unwrap();
    let error = f
        .service
        .authorize_project(&read_only, "acme", "churn", Role::Contributor)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "this token is read-only");

    // The last owner stays.
    let error = f
        .service
        .remove_project_member(&owner, "acme", "churn", "olga", &client())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("last owner"), "{error}");
    // Listing is per member.
    let names = |list: Vec<(plinth_types::Project, Option<Role>)>| {
        list.into_iter()
            .map(|(p, _)| p.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(f.service.list_projects(&viewer, false, None).await.unwrap()),
        ["churn"]
    );
    assert!(f
        .service
        .list_projects(&stranger, false, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        names(f.service.list_projects(&f.admin, true, None).await.unwrap()),
        ["churn", "fraud"]
    );
    // Non-members of the organization cannot create projects in it, or even see it.
    let error = f
        .service
        .create_project(&stranger, "acme", "mine", "", "", &client())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "organization `acme` not found");
}

#[tokio::test]
async fn passwords_follow_the_policy_and_signup_follows_the_settings() {
    let f = fixture().await;
    let error = f
        .service
        .create_user(
            &f.admin,
            &NewAccount {
                username: "bob".into(),
                email: "bob@example.com".into(),
                password: "bob-secret-123456".into(),
                ..NewAccount::default()
            },
            &client(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid `password`: must not contain the username"
    );
    let error = f
        .service
        .sign_up(
            "eve",
            "eve@example.com",
            "",
            "violet-harbour-thimble-42",
            &client(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "sign-up is disabled; ask an administrator for an account"
    );
    let settings = AuthSettingsView {
        signup_enabled: true,
        signup_domains: vec!["Example.com".into()],
        mfa_required: false,
    };
    f.service
        .update_auth_settings(&f.admin, &settings, &client())
        .await
        .unwrap();
    let error = f
        .service
        .sign_up(
            "eve",
            "eve@elsewhere.org",
            "",
            "violet-harbour-thimble-42",
            &client(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "sign-up is limited to addresses at `example.com`"
    );
    let eve = f
        .service
        .sign_up(
            "eve",
            "eve@example.com",
            "Eve",
            "violet-harbour-thimble-42",
            &client(),
        )
        .await
        .unwrap();
    assert!(!eve.is_admin);
    let eve = f.session("eve").await;
    let other_device = f.session("eve").await;
    let error = f
        .service
        .change_own_password(&eve, "wrong", "another-long-phrase-9", &client())
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("invalid `current_password`"));
    f.service
        .change_own_password(
            &eve,
            "violet-harbour-thimble-42",
            "another-long-phrase-9",
            &client(),
        )
        .await
        .unwrap();
    f.service
        .login("eve", "another-long-phrase-9", &client())
        .await
        .unwrap();
    // The session that changed the password stays; the others end.
    let session_id = |principal: &Principal| match principal.credential() {
        Credential::Session { id_hash, .. } => id_hash.clone(),
        Credential::Token { .. } | Credential::AppVisit { .. } => unreachable!("sessions only"),
    };
    assert!(f
        ._store
        .get_session(&session_id(&eve))
        .await
        .unwrap()
        .is_some());
    assert!(f
        ._store
        .get_session(&session_id(&other_device))
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        f.service.list_users(&eve, None, None, 10).await,
        Err(CoreError::Forbidden(_))
    ));
}

/// A stand-in for a directory (LDAP/AD): it knows one password for everyone.
struct Directory(std::sync::Arc<dyn plinth_metastore::MetadataStore>);

#[async_trait::async_trait]
impl PasswordAuthenticator for Directory {
    fn name(&self) -> &'static str {
        "test-directory"
    }

    async fn verify(
        &self,
        login: &str,
        password: &str,
    ) -> CoreResult<Option<plinth_metastore::UserRecord>> {
        if password != "from-the-directory" {
            return Ok(None);
        }
        Ok(self.0.find_user_by_login(login).await?)
    }
}

#[tokio::test]
async fn another_authenticator_plugs_in_without_touching_the_rest() {
    let f = fixture().await;
    f.user("alice").await;
    let service = f
        .service
        .clone()
        .with_authenticator(Arc::new(Directory(f._store.shared())));
    let outcome = service
        .login("alice", "from-the-directory", &client())
        .await
        .expect("the directory decides");
    assert_eq!(outcome.user().username.as_str(), "alice");
    let refused = service
        .login("alice", "violet-harbour-thimble-42", &client())
        .await
        .unwrap_err();
    assert_eq!(refused.to_string(), "invalid username or password");
    // Throttling, sessions and audit are the service's, whatever checks the password.
    let cookie = service.start_session(&outcome, &client()).await.unwrap();
    assert!(service.authenticate_session(&cookie.id).await.is_ok());
}

/// Each change that takes a right away is seen by the very next request, though the
/// credential and the role were just cached (the cache lives 5 s by default: without the
/// store's identity epoch, every assertion below would still see the old answer).
#[tokio::test]
async fn the_auth_cache_forgets_at_once_what_a_change_takes_away() {
    let f = fixture().await;
    let olga = f.user("olga").await;
    let alice = f.user("alice").await;
    f.service
        .create_organization(&f.admin, "acme", "Acme", Some("olga"), &client())
        .await
        .unwrap();
    f.service
        .create_project(&olga, "acme", "churn", "Churn", "", &client())
        .await
        .unwrap();
    let member = |role| {
        let f = &f;
        let olga = &olga;
        async move {
            f.service
                .set_project_member(olga, "acme", "churn", "alice", role, &client())
                .await
                .unwrap()
        }
    };
    member(Role::Contributor).await;
    let contribute = |principal: Principal| {
        let f = &f;
        async move {
            f.service
                .authorize_project(&principal, "acme", "churn", Role::Contributor)
                .await
        }
    };

    // A revoked token.
    let (info, secret) = f
        .service
        .create_token(
            &alice,
            &NewTokenRequest {
                name: "a".into(),
                ..Default::default()
            },
            &client(),
        )
        .await
        .unwrap();
    f.token_twice(&secret).await;
    f.service
        .revoke_token(&alice, &info.id, &client())
        .await
        .unwrap();
    assert_eq!(
        f.service
            .authenticate_token(&secret)
            .await
            .unwrap_err()
            .to_string(),
        "invalid token: revoked"
    );

    // A role taken down, then the membership removed, then the project deleted: by id too.
    let (_, secret) = f
        .service
        .create_token(
            &alice,
            &NewTokenRequest {
                name: "b".into(),
                ..Default::default()
            },
            &client(),
        )
        .await
        .unwrap();
    let by_token = f.token_twice(&secret).await;
    contribute(by_token.clone()).await.unwrap();
    let pass = contribute(by_token.clone()).await.unwrap();
    let project_id = pass.project().id.clone();
    f.service
        .authorize_project_by_id(&by_token, &project_id, Role::Contributor)
        .await
        .unwrap();
    member(Role::Viewer).await;
    assert!(matches!(
        contribute(by_token.clone()).await,
        Err(CoreError::Forbidden(_))
    ));
    assert!(matches!(
        f.service
            .authorize_project_by_id(&by_token, &project_id, Role::Contributor)
            .await,
        Err(CoreError::Forbidden(_))
    ));
    f.service
        .remove_project_member(&olga, "acme", "churn", "alice", &client())
        .await
        .unwrap();
    assert!(matches!(
        contribute(by_token.clone()).await,
        Err(CoreError::NotFound { .. })
    ));
    member(Role::Contributor).await;
    contribute(by_token.clone()).await.unwrap();
    contribute(by_token.clone()).await.unwrap();
    f.service
        .delete_project(&olga, "acme", "churn", &client())
        .await
        .unwrap();
    assert!(matches!(
        contribute(by_token.clone()).await,
        Err(CoreError::NotFound { .. })
    ));
    assert!(matches!(
        f.service
            .authorize_project_by_id(&by_token, &project_id, Role::Viewer)
            .await,
        Err(CoreError::NotFound { .. })
    ));

    // A session logged out.
    let cookie = f.cookie("alice").await;
    let session = f.session_twice(&cookie).await;
    f.service.logout(&session, &client()).await.unwrap();
    assert!(f.service.authenticate_session(&cookie).await.is_err());

    // A password reset ends the sessions.
    let cookie = f.cookie("alice").await;
    f.session_twice(&cookie).await;
    f.service
        .reset_password(&f.admin, "alice", "another-harbour-thimble-43", &client())
        .await
        .unwrap();
    assert!(f.service.authenticate_session(&cookie).await.is_err());
    f.service
        .reset_password(&f.admin, "alice", "violet-harbour-thimble-42", &client())
        .await
        .unwrap();

    // A deactivated user: token and session.
    let cookie = f.cookie("alice").await;
    f.session_twice(&cookie).await;
    f.token_twice(&secret).await;
    f.service
        .update_user(
            &f.admin,
            "alice",
            UserUpdate {
                is_active: Some(false),
                ..UserUpdate::default()
            },
            &client(),
        )
        .await
        .unwrap();
    assert!(f
        .service
        .authenticate_token(&secret)
        .await
        .unwrap_err()
        .to_string()
        .contains("deactivated"));
    assert!(f.service.authenticate_session(&cookie).await.is_err());

    // An admin flag taken away.
    let (_, admin_secret) = f
        .service
        .create_token(
            &f.admin,
            &NewTokenRequest {
                name: "adm".into(),
                ..Default::default()
            },
            &client(),
        )
        .await
        .unwrap();
    assert!(f.token_twice(&admin_secret).await.is_admin());
    f.service
        .create_user(
            &f.admin,
            &NewAccount {
                username: "root2".to_string(),
                email: "root2@example.com".to_string(),
                password: "violet-harbour-thimble-42".to_string(),
                ..NewAccount::default()
            },
            &client(),
        )
        .await
        .unwrap();
    let admin_flag = |on| UserUpdate {
        is_admin: Some(on),
        ..UserUpdate::default()
    };
    f.service
        .update_user(&f.admin, "root2", admin_flag(true), &client())
        .await
        .unwrap();
    let root2 = f.session("root2").await;
    f.service
        .update_user(&root2, "admin", admin_flag(false), &client())
        .await
        .unwrap();
    assert!(!f
        .service
        .authenticate_token(&admin_secret)
        .await
        .unwrap()
        .is_admin());
}

/// A change the cache cannot see (made by another process on the same database: here raw
/// SQL past the store's methods) is served from the cache for at most its lifetime.
#[tokio::test]
async fn the_auth_cache_bounds_changes_it_cannot_see_by_its_lifetime() {
    let f = fixture_with(IdentitySettings {
        auth_cache_ttl: Duration::from_millis(300),
        ..IdentitySettings::default()
    })
    .await;
    let alice = f.user("alice").await;
    let (_, secret) = f
        .service
        .create_token(
            &alice,
            &NewTokenRequest {
                name: "a".into(),
                ..Default::default()
            },
            &client(),
        )
        .await
        .unwrap();
    f.token_twice(&secret).await;
    let plinth_metastore::SharedPool::Sqlite(pool) = f._store.shared().shared_pool() else {
        panic!("sqlite expected")
    };
    sqlx::query("UPDATE api_tokens SET revoked_at_ms = 1")
        .execute(&pool)
        .await
        .unwrap();
    f.service
        .authenticate_token(&secret)
        .await
        .expect("served from the cache: no query saw the change");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        f.service
            .authenticate_token(&secret)
            .await
            .unwrap_err()
            .to_string(),
        "invalid token: revoked"
    );

    let uncached = fixture_with(IdentitySettings {
        auth_cache_ttl: Duration::ZERO,
        ..IdentitySettings::default()
    })
    .await;
    let bob = uncached.user("bob").await;
    let (_, secret) = uncached
        .service
        .create_token(
            &bob,
            &NewTokenRequest {
                name: "b".into(),
                ..Default::default()
            },
            &client(),
        )
        .await
        .unwrap();
    uncached.token_twice(&secret).await;
    let plinth_metastore::SharedPool::Sqlite(pool) = uncached._store.shared().shared_pool() else {
        panic!("sqlite expected")
    };
    sqlx::query("UPDATE api_tokens SET revoked_at_ms = 1")
        .execute(&pool)
        .await
        .unwrap();
    assert!(uncached.service.authenticate_token(&secret).await.is_err());
}

/// A directory whose entries the test changes (the seam's rules; the real LDAP client is
/// tested against slapd in `crates/plinth/tests/it/federation.rs`).
#[derive(Default)]
struct TestDirectory {
    /// username → (password, project role granted in acme/churn)
    users: std::sync::Mutex<std::collections::BTreeMap<String, (String, Option<Role>)>>,
    down: std::sync::atomic::AtomicBool,
}

impl TestDirectory {
    fn account(&self, username: &str, role: Option<Role>) -> ExternalAccount {
        let mut grants = RoleGrants {
            managed_projects: vec![("acme".to_string(), "churn".to_string())],
            ..RoleGrants::default()
        };
        if let Some(role) = role {
            grants
                .projects
                .insert(("acme".to_string(), "churn".to_string()), role);
        }
        ExternalAccount {
            provider: "corp".to_string(),
            subject: username.to_string(),
            username: username.to_string(),
            email: format!("{username}@corp.example"),
            email_verified: false,
            display_name: format!("{username} from corp"),
            groups: Vec::new(),
            grants,
        }
    }

    fn unavailable(&self) -> CoreResult<()> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::CoreError::Unavailable(
                "directory `corp` is unavailable".to_string(),
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl super::federation::Directory for TestDirectory {
    fn info(&self) -> DirectoryInfo {
        DirectoryInfo {
            name: "corp".to_string(),
            url: "ldap://test".to_string(),
            security: "plain".to_string(),
            user_base: "ou=people".to_string(),
            user_filter: "(uid={username})".to_string(),
        }
    }

    async fn authenticate(&self, login: &str, password: &str) -> CoreResult<DirectoryLogin> {
        self.unavailable()?;
        let users = self.users.lock().unwrap();
        Ok(match users.get(login) {
            Some((known, role)) if known == password => {
                DirectoryLogin::Accepted(Box::new(self.account(login, *role)))
            }
            _ => DirectoryLogin::Refused,
        })
    }

    async fn lookup(&self, subject: &str) -> CoreResult<DirectoryLookup> {
        self.unavailable()?;
        let users = self.users.lock().unwrap();
        Ok(match users.get(subject) {
            Some((_, role)) => DirectoryLookup::Found(Box::new(self.account(subject, *role))),
            None => DirectoryLookup::Gone,
        })
    }

    async fn test_connection(&self) -> CoreResult<String> {
        self.unavailable()?;
        Ok("connected".to_string())
    }
}

#[tokio::test]
async fn directory_accounts_are_created_updated_and_deactivated() {
    let f = fixture().await;
    let directory = Arc::new(TestDirectory::default());
    directory.users.lock().unwrap().insert(
        "dora".to_string(),
        ("dora-pw".to_string(), Some(Role::Contributor)),
    );
    let service = f.service.clone().with_directories(vec![
        directory.clone() as Arc<dyn super::federation::Directory>
    ]);
    service
        .create_organization(&f.admin, "acme", "Acme", None, &client())
        .await
        .unwrap();
    service
        .create_project(&f.admin, "acme", "churn", "", "", &client())
        .await
        .unwrap();

    // Sign-up is off while a directory is configured.
    let refused = service
        .sign_up(
            "eve",
            "eve@example.com",
            "",
            "violet-harbour-thimble-42",
            &client(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, crate::CoreError::Forbidden(_)),
        "{refused}"
    );
    assert!(!service.auth_settings().await.unwrap().signup_enabled);

    // The first login creates the account with the directory's attributes and roles.
    assert!(service.login("dora", "wrong", &client()).await.is_err());
    let outcome = service.login("dora", "dora-pw", &client()).await.unwrap();
    assert_eq!(outcome.user().email, "dora@corp.example");
    assert_eq!(outcome.user().display_name, "dora from corp");
    let cookie = service.start_session(&outcome, &client()).await.unwrap();
    let (dora, _) = service.authenticate_session(&cookie.id).await.unwrap();
    let pass = service
        .authorize_project(&dora, "acme", "churn", Role::Contributor)
        .await
        .unwrap();
    assert_eq!(pass.role(), Some(Role::Contributor));

    // The group is taken away: the next sync lowers the role to none.
    directory.users.lock().unwrap().get_mut("dora").unwrap().1 = None;
    let reports = service.sync_directories().await;
    assert_eq!((reports[0].checked, reports[0].updated), (1, 1));
    assert!(service
        .authorize_project(&dora, "acme", "churn", Role::Viewer)
        .await
        .is_err());

    // While the directory is down: directory users get Unavailable, the sync changes
    // nothing, the local admin still logs in.
    directory
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let error = service
        .login("dora", "dora-pw", &client())
        .await
        .unwrap_err();
    assert!(matches!(error, crate::CoreError::Unavailable(_)), "{error}");
    let reports = service.sync_directories().await;
    assert!(reports[0].error.is_some() && reports[0].deactivated == 0);
    service
        .login("admin", "keeper-of-the-platform-77", &client())
        .await
        .unwrap();
    directory
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);

    // Deleted from the directory: the sync deactivates her and her session ends.
    directory.users.lock().unwrap().remove("dora");
    let reports = service.sync_directories().await;
    assert_eq!(reports[0].deactivated, 1);
    assert!(service.authenticate_session(&cookie.id).await.is_err());

    // A local account of the same name is never taken over by a directory user.
    f.user("lena").await;
    directory
        .users
        .lock()
        .unwrap()
        .insert("lena".to_string(), ("lena-pw".to_string(), None));
    let error = service
        .login("lena", "lena-pw", &client())
        .await
        .unwrap_err();
    assert!(
        matches!(error, crate::CoreError::Unauthenticated(_)),
        "{error}"
    );
}
