//! The wire forms, byte for byte: what a client sends (JSON bodies and query strings) and
//! what the server answers. The expected texts were taken from the separate server and
//! client types these replaced, so a change here is a change of the API.

use std::collections::BTreeMap;

use plinth_types::{
    ApiTokenInfo, Installation, JobRequest, JobView, PoolTaint, Project, ProjectQuota,
    ProjectUsageNow, Role, SnapshotInfo, User, Workload,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use crate::*;

fn body<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

fn query<T: Serialize>(value: &T) -> String {
    serde_urlencoded::to_string(value).unwrap()
}

fn parse<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|error| error.to_string())
}

fn user() -> User {
    parse(json!({
        "id": "0190", "username": "ada", "email": "a@b.co", "display_name": "Ada",
        "is_admin": true, "is_active": true, "mfa_enabled": false, "created_at_ms": 1,
        "last_login_at_ms": null,
    }))
    .unwrap()
}

fn token_info() -> ApiTokenInfo {
    ApiTokenInfo {
        id: "t1".into(),
        name: "ci".into(),
        display_prefix: "plt_ab".into(),
        project_id: Some("p1".into()),
        read_only: true,
        created_at_ms: 1,
        expires_at_ms: Some(2),
        last_used_at_ms: None,
        revoked_at_ms: None,
    }
}

fn project() -> Project {
    parse(json!({
        "id": "p1", "organization": "acme", "name": "churn", "display_name": "Churn",
        "description": "d", "created_at_ms": 3,
    }))
    .unwrap()
}

fn workload() -> Workload {
    parse(json!({
        "id": "w1", "project_id": "p1", "kind": "job", "name": "echo hi", "class": "small",
        "pool": "compute", "cpu_millis": 1000, "memory_bytes": 2147483648u64, "gpus": 0,
        "spec": {"command": ["echo", "hi"], "env": {"A": "1"}, "snapshot": null, "image": null, "ports": []},
        "state": "queued", "reason": "r", "exit_code": null, "stop_requested": false,
        "created_by": "u1", "created_by_username": "ada", "rerun_of": null,
        "created_at_ms": 1, "started_at_ms": null, "finished_at_ms": null,
        "accounted_until_ms": null, "backend": "local",
    }))
    .unwrap()
}

const USER: &str = r#"{"id":"0190","username":"ada","email":"a@b.co","display_name":"Ada","is_admin":true,"is_active":true,"mfa_enabled":false,"created_at_ms":1,"last_login_at_ms":null}"#;
const TOKEN_INFO: &str = r#"{"id":"t1","name":"ci","display_prefix":"plt_ab","project_id":"p1","read_only":true,"created_at_ms":1,"expires_at_ms":2,"last_used_at_ms":null,"revoked_at_ms":null}"#;
const JOB: &str = r#"{"id":"w1","project_id":"p1","kind":"job","name":"echo hi","class":"small","pool":"compute","cpu_millis":1000,"memory_bytes":2147483648,"gpus":0,"spec":{"command":["echo","hi"],"env":{"A":"1"},"snapshot":null,"image":null,"ports":[]},"state":"queued","reason":"r","exit_code":null,"stop_requested":false,"created_by":"u1","created_by_username":"ada","rerun_of":null,"created_at_ms":1,"started_at_ms":null,"finished_at_ms":null,"accounted_until_ms":null,"backend":"local","queue_position":2,"duration_ms":null}"#;

#[test]
fn request_bodies_are_sent_as_before() {
    let selector = BTreeMap::from([("k".to_string(), "v".to_string())]);
    let cases: Vec<(String, &str)> = vec![
        (
            body(&LoginRequest {
                username: "ada".into(),
                password: "pw".into(),
                ..LoginRequest::default()
            }),
            r#"{"username":"ada","password":"pw"}"#,
        ),
        (
            body(&LoginRequest {
                username: "ada".into(),
                password: "pw".into(),
                totp_code: Some("123456".into()),
                token_name: Some("t".into()),
                expires_in_days: Some(7),
            }),
            r#"{"username":"ada","password":"pw","totp_code":"123456","token_name":"t","expires_in_days":7}"#,
        ),
        (
            body(&TokenRequest {
                name: "ci".into(),
                ..TokenRequest::default()
            }),
            r#"{"name":"ci","read_only":false}"#,
        ),
        (
            body(&TokenRequest {
                name: "ci".into(),
                expires_in_days: Some(30),
                project: Some("acme/churn".into()),
                read_only: true,
            }),
            r#"{"name":"ci","expires_in_days":30,"project":"acme/churn","read_only":true}"#,
        ),
        (
            body(&CreateUserRequest {
                username: "alice".into(),
                email: "a@b.co".into(),
                password: "pw".into(),
                ..CreateUserRequest::default()
            }),
            r#"{"username":"alice","email":"a@b.co","password":"pw","display_name":"","is_admin":false}"#,
        ),
        (body(&UpdateUserRequest::default()), "{}"),
        (
            body(&UpdateUserRequest {
                email: Some("x@y.z".into()),
                display_name: Some("X".into()),
                is_admin: Some(true),
                is_active: Some(false),
            }),
            r#"{"email":"x@y.z","display_name":"X","is_admin":true,"is_active":false}"#,
        ),
        (
            body(&CreateOrganizationRequest {
                name: "acme".into(),
                ..CreateOrganizationRequest::default()
            }),
            r#"{"name":"acme","display_name":""}"#,
        ),
        (
            body(&CreateOrganizationRequest {
                name: "acme".into(),
                display_name: "Acme".into(),
                owner: Some("alice".into()),
            }),
            r#"{"name":"acme","display_name":"Acme","owner":"alice"}"#,
        ),
        (
            body(&CreateProjectRequest {
                name: "churn".into(),
                ..CreateProjectRequest::default()
            }),
            r#"{"name":"churn","display_name":"","description":""}"#,
        ),
        (
            body(&RoleRequest {
                role: "viewer".into(),
            }),
            r#"{"role":"viewer"}"#,
        ),
        (
            body(&PasswordReset {
                password: "pw".into(),
            }),
            r#"{"password":"pw"}"#,
        ),
        (
            body(&PoolRequest::default()),
            r#"{"description":"","node_selector":{},"taints":[]}"#,
        ),
        (
            body(&PoolRequest {
                description: "d".into(),
                node_selector: selector.clone(),
                taints: vec![PoolTaint {
                    key: "a".into(),
                    value: "b".into(),
                    effect: "NoSchedule".into(),
                }],
            }),
            r#"{"description":"d","node_selector":{"k":"v"},"taints":[{"key":"a","value":"b","effect":"NoSchedule"}]}"#,
        ),
        (
            body(&ClassRequest {
                pool: "compute".into(),
                cpu_millis: 1500,
                memory_bytes: 1 << 31,
                ..ClassRequest::default()
            }),
            r#"{"pool":"compute","description":"","cpu_millis":1500,"memory_bytes":2147483648,"gpus":0}"#,
        ),
        (
            body(&JobRequest {
                class: "small".into(),
                command: vec!["echo".into(), "hi".into()],
                ..JobRequest::default()
            }),
            r#"{"class":"small","command":["echo","hi"],"env":{}}"#,
        ),
        (
            body(&JobRequest {
                name: Some("n".into()),
                class: "small".into(),
                command: vec!["echo".into()],
                env: selector,
                snapshot: Some("ab".into()),
                image: Some("img".into()),
                custom_size: None,
                environment: Some("train:3".into()),
            }),
            r#"{"name":"n","class":"small","command":["echo"],"env":{"k":"v"},"snapshot":"ab","image":"img","environment":"train:3"}"#,
        ),
        (
            body(&crate::CreateEnvironmentRequest {
                name: "train".into(),
                python: "3.11".into(),
                packages: vec!["pandas>=2".into()],
                ..crate::CreateEnvironmentRequest::default()
            }),
            r#"{"name":"train","python":"3.11","packages":["pandas>=2"]}"#,
        ),
        (
            body(&ProjectQuota::default()),
            r#"{"cpu_millis":null,"memory_bytes":null,"gpus":null,"max_jobs":null,"max_workspaces":null,"max_deployments":null,"allow_custom_sizes":false}"#,
        ),
    ];
    for (sent, expected) in cases {
        assert_eq!(sent, expected);
    }
}

#[test]
fn query_strings_are_sent_as_before() {
    let cases: Vec<(String, &str)> = vec![
        (query(&UserListQuery::default()), ""),
        (
            query(&UserListQuery {
                search: Some("a b&c".into()),
                after: Some("bob".into()),
                limit: Some(10),
            }),
            "search=a+b%26c&after=bob&limit=10",
        ),
        (query(&ProjectListQuery::default()), "all=false"),
        (
            query(&ProjectListQuery {
                all: true,
                organization: Some("acme".into()),
            }),
            "all=true&organization=acme",
        ),
        (query(&UsageQuery::default()), ""),
        (
            query(&UsageQuery {
                from: Some("2024-01-01".into()),
                to: Some("2024-02-01".into()),
                format: None,
            }),
            "from=2024-01-01&to=2024-02-01",
        ),
        (
            query(&UsageQuery {
                from: Some("2024-01-01".into()),
                to: None,
                format: Some("csv".into()),
            }),
            "from=2024-01-01&format=csv",
        ),
        (query(&JobListQuery::default()), ""),
        (
            query(&JobListQuery {
                state: Some("queued,running".into()),
                cursor: Some("1.x".into()),
                limit: Some(5),
            }),
            "state=queued%2Crunning&cursor=1.x&limit=5",
        ),
        (query(&LogQuery::default()), "follow=false&offset=0"),
        (
            query(&LogQuery {
                follow: true,
                offset: 42,
                tail: Some(10),
            }),
            "follow=true&offset=42&tail=10",
        ),
        (query(&AuditListQuery::default()), ""),
    ];
    for (sent, expected) in cases {
        assert_eq!(sent, expected);
    }
}

#[test]
fn answers_are_written_as_before_and_read_back_the_same() {
    let job = JobView {
        job: workload(),
        queue_position: Some(2),
        duration_ms: None,
    };
    let readiness = Readiness {
        status: "unavailable".into(),
        metastore: DependencyCheck {
            status: "ok".into(),
            backend: "sqlite".into(),
            latency_ms: 0.123,
            error: None,
        },
        objects: DependencyCheck {
            status: "unavailable".into(),
            backend: "s3".into(),
            latency_ms: 2000.0,
            error: Some("e".into()),
        },
    };
    let readiness_json = r#"{"status":"unavailable","metastore":{"status":"ok","backend":"sqlite","latency_ms":0.123},"objects":{"status":"unavailable","backend":"s3","latency_ms":2000.0,"error":"e"}}"#;

    fn check<T>(value: T, expected: &str)
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        assert_eq!(body(&value), expected);
        assert_eq!(serde_json::from_str::<T>(expected).unwrap(), value);
    }

    check(
        LoginResponse {
            token: "plt_x".into(),
            info: token_info(),
            user: user(),
        },
        &format!(r#"{{"token":"plt_x","info":{TOKEN_INFO},"user":{USER}}}"#),
    );
    check(
        TokenResponse {
            token: "plt_x".into(),
            info: token_info(),
        },
        &format!(r#"{{"token":"plt_x","info":{TOKEN_INFO}}}"#),
    );
    check(
        MeResponse {
            user: user(),
            recovery_codes_left: 3,
            credential: "session".into(),
            csrf_token: Some("c".into()),
        },
        &format!(
            r#"{{"user":{USER},"recovery_codes_left":3,"credential":"session","csrf_token":"c"}}"#
        ),
    );
    check(
        MeResponse {
            user: user(),
            recovery_codes_left: 0,
            credential: "token".into(),
            csrf_token: None,
        },
        &format!(r#"{{"user":{USER},"recovery_codes_left":0,"credential":"token"}}"#),
    );
    check(
        MfaEnrollmentResponse {
            secret: "s".into(),
            otpauth_url: "o".into(),
            qr_svg: "q".into(),
        },
        r#"{"secret":"s","otpauth_url":"o","qr_svg":"q"}"#,
    );
    check(
        RecoveryCodes {
            recovery_codes: vec!["a".into(), "b".into()],
        },
        r#"{"recovery_codes":["a","b"]}"#,
    );
    check(
        ProjectView {
            project: project(),
            role: Some(Role::Owner),
        },
        r#"{"id":"p1","organization":"acme","name":"churn","display_name":"Churn","description":"d","created_at_ms":3,"role":"owner"}"#,
    );
    check(
        ProjectView {
            project: project(),
            role: None,
        },
        r#"{"id":"p1","organization":"acme","name":"churn","display_name":"Churn","description":"d","created_at_ms":3,"role":null}"#,
    );
    check(
        RuntimeInfo {
            backend: "local".into(),
            limits: "l".into(),
            gpus: vec![GpuInfo {
                index: 0,
                name: "A100".into(),
            }],
            isolation: IsolationInfo {
                level: "partial".into(),
                summary: "s".into(),
                mechanisms: vec![MechanismInfo {
                    name: "identity".into(),
                    active: true,
                    detail: "d".into(),
                }],
            },
        },
        r#"{"backend":"local","limits":"l","gpus":[{"index":0,"name":"A100"}],"isolation":{"level":"partial","summary":"s","mechanisms":[{"name":"identity","active":true,"detail":"d"}]}}"#,
    );
    check(
        QuotaView {
            quota: ProjectQuota {
                cpu_millis: Some(1),
                ..ProjectQuota::default()
            },
            usage: ProjectUsageNow {
                jobs: 2,
                ..ProjectUsageNow::default()
            },
        },
        r#"{"quota":{"cpu_millis":1,"memory_bytes":null,"gpus":null,"max_jobs":null,"max_workspaces":null,"max_deployments":null,"allow_custom_sizes":false},"usage":{"cpu_millis":0,"memory_bytes":0,"gpus":0,"jobs":2,"workspaces":0,"deployments":0,"queued":0}}"#,
    );
    check(job.clone(), JOB);
    check(
        JobPage {
            jobs: vec![job],
            next: Some("1.w1".into()),
        },
        &format!(r#"{{"jobs":[{JOB}],"next":"1.w1"}}"#),
    );
    check(
        JobPage {
            jobs: vec![],
            next: None,
        },
        r#"{"jobs":[],"next":null}"#,
    );
    check(
        SnapshotInfo {
            sha256: "ab".into(),
            size: 5,
        },
        r#"{"sha256":"ab","size":5}"#,
    );
    check(
        plinth_types::AuthSettingsView {
            signup_enabled: true,
            signup_domains: vec!["x.org".into()],
            mfa_required: false,
        },
        r#"{"signup_enabled":true,"signup_domains":["x.org"],"mfa_required":false}"#,
    );
    check(
        Health {
            status: "ok".into(),
        },
        r#"{"status":"ok"}"#,
    );
    check(readiness.clone(), readiness_json);
    check(
        Status {
            version: "0.1.0".into(),
            uptime_seconds: 5,
            installation: Installation {
                installation_id: "i".into(),
                created_at_ms: 1,
                last_started_at_ms: 2,
                last_started_version: "0.1.0".into(),
                start_count: 3,
            },
            schema_version: 7,
            metastore: BackendInfo {
                backend: "sqlite".into(),
                location: "sqlite://x".into(),
            },
            objects: BackendInfo {
                backend: "local".into(),
                location: "file:///x".into(),
            },
            readiness,
            resident_memory_bytes: Some(9),
        },
        &format!(
            r#"{{"version":"0.1.0","uptime_seconds":5,"installation":{{"installation_id":"i","created_at_ms":1,"last_started_at_ms":2,"last_started_version":"0.1.0","start_count":3}},"schema_version":7,"metastore":{{"backend":"sqlite","location":"sqlite://x"}},"objects":{{"backend":"local","location":"file:///x"}},"readiness":{readiness_json},"resident_memory_bytes":9}}"#
        ),
    );
}

#[test]
fn the_server_defaults_what_a_client_leaves_out_and_refuses_what_it_does_not_know() {
    let login: LoginRequest = parse(json!({"username": "ada", "password": "pw"})).unwrap();
    assert_eq!(login.totp_code, None);
    let token: TokenRequest = parse(json!({"name": "ci"})).unwrap();
    assert!(!token.read_only);
    let user: CreateUserRequest =
        parse(json!({"username": "a", "email": "a@b.co", "password": "pw"})).unwrap();
    assert!(!user.is_admin && user.display_name.is_empty());
    let pool: PoolRequest = parse(json!({})).unwrap();
    assert_eq!(pool, PoolRequest::default());
    let logs: LogQuery = serde_urlencoded::from_str("tail=5").unwrap();
    assert_eq!(
        logs,
        LogQuery {
            tail: Some(5),
            ..LogQuery::default()
        }
    );

    let refused =
        parse::<LoginRequest>(json!({"username": "a", "password": "b", "otp": "1"})).unwrap_err();
    assert!(refused.contains("unknown field `otp`"), "{refused}");
    let refused =
        parse::<ClassRequest>(json!({"pool": "p", "cpu_millis": 1, "memory_bytes": 1, "gpu": 1}))
            .unwrap_err();
    assert!(refused.contains("unknown field `gpu`"), "{refused}");
    let refused = serde_urlencoded::from_str::<JobListQuery>("states=queued").unwrap_err();
    assert!(refused.to_string().contains("unknown field"), "{refused}");
}

#[test]
fn directory_tests_travel_as_documented() {
    let request: DirectoryLoginTest =
        parse(json!({"username": "alice", "password": "pw"})).unwrap();
    assert_eq!(body(&request), r#"{"username":"alice","password":"pw"}"#);
    let refused = parse::<DirectoryLoginTest>(json!({"username": "a", "password": "b", "dn": "x"}))
        .unwrap_err();
    assert!(refused.contains("unknown field `dn`"), "{refused}");
    assert!(!format!("{request:?}").contains("pw"));
    let failed = DirectoryTestResult {
        ok: false,
        message: "refused".into(),
        account: None,
    };
    assert_eq!(body(&failed), r#"{"ok":false,"message":"refused"}"#);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let printed = [
        format!(
            "{:?}",
            LoginRequest {
                username: "ada".into(),
                password: "hunter2".into(),
                totp_code: Some("123456".into()),
                ..LoginRequest::default()
            }
        ),
        format!(
            "{:?}",
            LoginResponse {
                token: "plt_hunter2".into(),
                info: token_info(),
                user: user(),
            }
        ),
        format!(
            "{:?}",
            TokenResponse {
                token: "plt_hunter2".into(),
                info: token_info(),
            }
        ),
        format!(
            "{:?}",
            SignupRequest {
                password: "hunter2".into(),
                ..SignupRequest::default()
            }
        ),
        format!(
            "{:?}",
            CreateUserRequest {
                password: "hunter2".into(),
                ..CreateUserRequest::default()
            }
        ),
        format!(
            "{:?}",
            PasswordChange {
                current_password: "hunter2".into(),
                new_password: "hunter2".into(),
            }
        ),
        format!(
            "{:?}",
            PasswordReset {
                password: "hunter2".into(),
            }
        ),
        format!(
            "{:?}",
            CodeRequest {
                code: "hunter2".into(),
            }
        ),
        format!(
            "{:?}",
            MfaEnrollmentResponse {
                secret: "hunter2".into(),
                otpauth_url: "otpauth://totp/x?secret=hunter2".into(),
                qr_svg: "hunter2".into(),
            }
        ),
        format!(
            "{:?}",
            RecoveryCodes {
                recovery_codes: vec!["hunter2".into()],
            }
        ),
    ];
    for text in printed {
        assert!(
            !text.contains("hunter2") && !text.contains("123456"),
            "{text}"
        );
    }
}

#[test]
fn s3_key_bodies_keep_their_form_and_hide_the_secret() {
    assert_eq!(body(&S3KeyRequest::default()), "{}");
    assert_eq!(
        body(&S3KeyRequest {
            project: Some("acme/churn".into()),
            read_only: true,
        }),
        r#"{"project":"acme/churn","read_only":true}"#
    );
    let defaulted: S3KeyRequest = parse(json!({})).unwrap();
    assert_eq!(defaulted, S3KeyRequest::default());
    let refused = parse::<S3KeyRequest>(json!({"bucket": "x"})).unwrap_err();
    assert!(refused.contains("unknown field `bucket`"), "{refused}");
    let created = S3KeyCreated {
        key: plinth_types::S3AccessKey {
            access_key_id: "PLKAAAAAAAAAAAAAAAAA".into(),
            project_id: None,
            project: None,
            read_only: false,
            created_at_ms: 1,
            last_used_at_ms: None,
            revoked_at_ms: None,
        },
        secret_access_key: "s3cr3t-hunter2".into(),
        endpoint_url: "http://127.0.0.1:8081".into(),
    };
    assert_eq!(
        body(&created),
        r#"{"key":{"access_key_id":"PLKAAAAAAAAAAAAAAAAA","read_only":false,"created_at_ms":1},"secret_access_key":"s3cr3t-hunter2","endpoint_url":"http://127.0.0.1:8081"}"#
    );
    assert!(!format!("{created:?}").contains("hunter2"));
}
