//! The identity commands of the real binary against a real server: `login`, `whoami`,
//! `users`, `orgs`, `projects`, `tokens`, `logout`, and their one-line errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{plinth, workdir, Server, ADMIN_PASSWORD};

const BOB_PASSWORD: &str = "a-long-and-unusual-passphrase-42";

/// One run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "failed: {self:#?}");
        self.stdout
    }

    /// Asserts a one-line `error: …` and exit code 1, and returns that line.
    #[track_caller]
    fn error(self) -> String {
        assert_eq!(self.code, 1, "expected exit code 1: {self:#?}");
        let line = self.stderr.trim_end();
        assert!(
            line.starts_with("error: ") && !line.contains('\n'),
            "not one `error:` line: {self:#?}"
        );
        line.to_string()
    }
}

/// The CLI of one user: its own config folder, a working folder, no `PLINTH_*` inherited.
struct Cli {
    work: PathBuf,
    config: PathBuf,
}

impl Cli {
    fn new(root: &Path, name: &str) -> Cli {
        let work = root.join(format!("{name}-work"));
        fs_err::create_dir_all(&work).unwrap();
        Cli {
            work,
            config: root.join(format!("{name}-config")),
        }
    }

    fn credentials(&self) -> PathBuf {
        self.config.join("credentials.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = plinth(&self.work);
        command.env("PLINTH_CONFIG_DIR", &self.config).args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], "")
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn plinth");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().expect("wait for plinth");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.run(&args).ok();
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
    }

    fn login_as_admin(&self, server: &Server) -> String {
        self.run_with(
            &[
                "login",
                "--url",
                &server.address,
                "--username",
                "admin",
                "--password-stdin",
            ],
            &[],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .ok()
    }
}

/// Returns the row of a table whose first column is `key`.
fn row<'a>(table: &'a str, key: &str) -> Option<&'a str> {
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(key))
}

#[test]
fn identity_commands_work_end_to_end() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let admin = Cli::new(dir.path(), "admin");
    let url = server.address.as_str();

    // Nothing stored yet.
    assert_eq!(
        admin.run(&["whoami"]).error(),
        "error: not logged in; run `plinth login --url URL`"
    );

    // Login stores {url, token, username}, readable by the owner only.
    let stdout = admin.login_as_admin(&server);
    assert_eq!(stdout.trim_end(), format!("logged in to {url} as admin"));
    let credentials = admin.credentials();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&credentials).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "credentials mode {mode:o}");
    }
    let stored: toml::Table =
        toml::from_str(&fs_err::read_to_string(&credentials).unwrap()).unwrap();
    assert_eq!(stored["url"].as_str(), Some(url));
    assert_eq!(stored["username"].as_str(), Some("admin"));
    let login_token = stored["token"].as_str().unwrap().to_string();
    assert!(login_token.starts_with("plt_"), "{login_token}");

    let whoami = admin.run(&["whoami"]).ok();
    for (label, value) in [
        ("username:", "admin"),
        ("admin:", "yes"),
        ("MFA:", "no"),
        ("server:", url),
    ] {
        let line = whoami
            .lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("no `{label}` in:\n{whoami}"));
        assert_eq!(line[label.len()..].trim(), value, "{whoami}");
    }
    assert_eq!(admin.json(&["whoami"])["user"]["username"], "admin");

    // Users.
    let created = admin
        .run_with(
            &[
                "users",
                "create",
                "bob",
                "--email",
                "bob@example.com",
                "--display-name",
                "Bob Builder",
                "--password-stdin",
            ],
            &[],
            &format!("{BOB_PASSWORD}\n"),
        )
        .ok();
    assert_eq!(created.trim_end(), "created user `bob`");
    let users = admin.run(&["users", "list"]).ok();
    assert!(users.starts_with("USERNAME"), "{users}");
    let bob = row(&users, "bob").unwrap_or_else(|| panic!("{users}"));
    assert!(
        bob.contains("Bob Builder") && bob.contains("bob@example.com"),
        "{bob}"
    );
    assert!(row(&users, "admin").is_some(), "{users}");
    let found = admin.json(&["users", "list", "--search", "builder"]);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["username"], "bob");
    let shown = admin.run(&["users", "show", "bob"]).ok();
    assert!(shown.contains("Bob Builder"), "{shown}");
    admin.run(&["users", "deactivate", "bob"]).ok();
    assert_eq!(admin.json(&["users", "show", "bob"])["is_active"], false);
    admin.run(&["users", "reactivate", "bob"]).ok();
    assert_eq!(admin.json(&["users", "show", "bob"])["is_active"], true);
    assert_eq!(
        admin.run(&["users", "show", "nobody"]).error(),
        "error: user `nobody` not found"
    );

    // Organizations.
    let created = admin
        .run(&["orgs", "create", "acme", "--display-name", "Acme Corp"])
        .ok();
    assert_eq!(created.trim_end(), "created organization `acme`");
    let orgs = admin.run(&["orgs", "list"]).ok();
    assert!(row(&orgs, "acme").unwrap().contains("Acme Corp"), "{orgs}");
    let again = admin.run(&["orgs", "create", "acme"]).error();
    assert!(again.contains("acme"), "{again}");
    admin.run(&["orgs", "add-member", "acme", "bob"]).ok();
    let members = admin.run(&["orgs", "members", "acme"]).ok();
    assert!(
        row(&members, "bob").unwrap().ends_with("member"),
        "{members}"
    );

    // Projects.
    let created = admin
        .run(&[
            "projects",
            "create",
            "acme/churn",
            "--description",
            "who leaves and why",
        ])
        .ok();
    assert!(
        created.starts_with("created project `acme/churn`"),
        "{created}"
    );
    let projects = admin.run(&["projects", "list"]).ok();
    assert!(
        row(&projects, "acme/churn").unwrap().contains("owner"),
        "{projects}"
    );
    admin
        .run(&[
            "projects",
            "add-member",
            "acme/churn",
            "bob",
            "--role",
            "viewer",
        ])
        .ok();
    let members = admin.run(&["projects", "members", "acme/churn"]).ok();
    assert!(
        row(&members, "bob").unwrap().contains("viewer"),
        "{members}"
    );
    let shown = admin.json(&["projects", "show", "acme/churn"]);
    assert_eq!(shown["description"], "who leaves and why");
    assert_eq!(shown["role"], "owner");

    // A token for scripts: alone on the last line, and it works on its own.
    let created = admin
        .run(&[
            "tokens",
            "create",
            "--name",
            "ci",
            "--expires",
            "12h",
            "--read-only",
        ])
        .ok();
    let token = created.lines().last().unwrap().to_string();
    assert!(
        token.starts_with("plt_") && !token.contains(' '),
        "{created}"
    );
    let script = Cli::new(dir.path(), "script");
    let env = [("PLINTH_URL", url), ("PLINTH_TOKEN", token.as_str())];
    let whoami = script.run_with(&["whoami"], &env, "").ok();
    assert!(whoami.contains("admin"), "{whoami}");
    assert!(!script.credentials().try_exists().unwrap());

    let tokens = admin.json(&["tokens", "list"]);
    let listed = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|info| info["name"] == "ci")
        .unwrap_or_else(|| panic!("{tokens}"));
    assert_eq!(listed["read_only"], true);
    let id = listed["id"].as_str().unwrap().to_string();
    let table = admin.run(&["tokens", "list"]).ok();
    assert!(row(&table, &id).unwrap().contains("active"), "{table}");

    admin.run(&["tokens", "revoke", &id]).ok();
    let refused = script.run_with(&["whoami"], &env, "").error();
    assert!(
        refused.starts_with("error: invalid token: revoked"),
        "{refused}"
    );
    let table = admin.run(&["tokens", "list"]).ok();
    assert!(row(&table, &id).unwrap().ends_with("revoked"), "{table}");

    // Logout revokes the stored token on the server and forgets it.
    let stdout = admin.run(&["logout"]).ok();
    assert_eq!(stdout.trim_end(), format!("logged out of {url}"));
    assert!(!credentials.try_exists().unwrap());
    assert_eq!(
        admin.run(&["whoami"]).error(),
        "error: not logged in; run `plinth login --url URL`"
    );
    let env = [("PLINTH_URL", url), ("PLINTH_TOKEN", login_token.as_str())];
    let refused = script.run_with(&["whoami"], &env, "").error();
    assert!(
        refused.starts_with("error: invalid token: revoked"),
        "{refused}"
    );
}

#[test]
fn a_wrong_password_is_one_clear_line_and_stores_nothing() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let cli = Cli::new(dir.path(), "user");
    let run = cli.run_with(
        &[
            "login",
            "--url",
            &server.address,
            "--username",
            "admin",
            "--password-stdin",
        ],
        &[],
        "not-the-password\n",
    );
    assert_eq!(run.error(), "error: invalid username or password");
    assert!(!cli.credentials().try_exists().unwrap());
}

#[test]
fn a_stored_token_is_never_sent_to_another_server() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let cli = Cli::new(dir.path(), "user");
    cli.login_as_admin(&server);
    // Nothing listens there, but the refusal comes before any connection.
    let other = "http://127.0.0.1:9";
    assert_eq!(
        cli.run(&["whoami", "--url", other]).error(),
        format!("error: not logged in to `{other}`; run `plinth login --url {other}`")
    );
    // The same server spelled with a trailing slash is the same server.
    let same = format!("{}/", server.address);
    cli.run(&["users", "list", "--url", &same]).ok();
}

#[test]
fn usage_and_connection_errors_need_no_server() {
    let dir = workdir();
    let cli = Cli::new(dir.path(), "user");
    let help = cli.run(&["--help"]).ok();
    for command in [
        "login", "logout", "whoami", "users", "orgs", "projects", "tokens",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    let refused = cli
        .run_with(
            &[
                "login",
                "--url",
                "https://plinth.example.com",
                "--username",
                "a",
                "--password-stdin",
            ],
            &[],
            "secret\n",
        )
        .error();
    // An https server that is not there: the error says which and why.
    assert!(
        refused.contains("cannot reach the server at `https://plinth.example.com`"),
        "{refused}"
    );

    let unreachable = cli
        .run_with(
            &["whoami"],
            &[
                ("PLINTH_URL", "http://127.0.0.1:9"),
                ("PLINTH_TOKEN", "plt_x"),
            ],
            "",
        )
        .error();
    assert!(
        unreachable.starts_with("error: cannot reach the server at `http://127.0.0.1:9`"),
        "{unreachable}"
    );

    let bad = cli.run(&["tokens", "create", "--name", "x", "--expires", "soon"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("30d"), "{bad:#?}");
    let bad = cli.run(&["projects", "show", "no-slash"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("ORGANIZATION/PROJECT"), "{bad:#?}");
}

#[tokio::test]
async fn a_second_factor_is_passed_with_totp() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let admin = Cli::new(dir.path(), "admin");
    admin.login_as_admin(&server);
    admin
        .run_with(
            &[
                "users",
                "create",
                "dana",
                "--email",
                "dana@example.com",
                "--password-stdin",
            ],
            &[],
            BOB_PASSWORD,
        )
        .ok();
    let dana = Cli::new(dir.path(), "dana");
    let login = |extra: &[&str]| {
        let mut args = vec![
            "login",
            "--url",
            server.address.as_str(),
            "--username",
            "dana",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        dana.run_with(&args, &[], BOB_PASSWORD)
    };
    login(&[]).ok();

    // Dana turns on MFA through the API with the token the CLI stored.
    let stored: toml::Table =
        toml::from_str(&fs_err::read_to_string(dana.credentials()).unwrap()).unwrap();
    let token = stored["token"].as_str().unwrap();
    let client = crate::support::client();
    let enrollment: serde_json::Value = client
        .post(server.url("/api/v1/me/mfa"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp =
        plinth_auth::Totp::new(enrollment["secret"].as_str().unwrap(), "plinth", "dana").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let confirmed = client
        .post(server.url("/api/v1/me/mfa/confirm"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "code": totp.code_at(now) }))
        .send()
        .await
        .unwrap();
    assert!(confirmed.status().is_success(), "{confirmed:?}");
    let codes: serde_json::Value = confirmed.json().await.unwrap();
    let recovery = codes["recovery_codes"][0].as_str().unwrap();

    // A script is told what to add instead of being asked.
    assert_eq!(
        login(&[]).error(),
        "error: this account uses two-factor authentication: pass `--totp CODE`"
    );
    // (The TOTP code of this step was spent on the enrollment: a recovery code does.)
    login(&["--totp", recovery]).ok();
    let whoami = dana.run(&["whoami"]).ok();
    assert!(
        whoami
            .lines()
            .any(|line| line.starts_with("MFA:") && line.ends_with("yes")),
        "{whoami}"
    );
}

#[test]
fn logging_in_again_revokes_the_token_it_replaces() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let cli = Cli::new(dir.path(), "user");
    cli.login_as_admin(&server);
    let first = fs_err::read_to_string(cli.credentials()).unwrap();
    cli.login_as_admin(&server);
    let second = fs_err::read_to_string(cli.credentials()).unwrap();
    assert_ne!(first, second, "a new token is stored");
    let old_token = first
        .lines()
        .find_map(|line| line.strip_prefix("token = "))
        .expect("a token line")
        .trim_matches('"')
        .to_string();
    let run = cli.run_with(
        &["whoami", "--url", &server.address],
        &[("PLINTH_TOKEN", old_token.as_str())],
        "",
    );
    assert_eq!(
        run.error(),
        "error: invalid token: revoked (the token in `PLINTH_TOKEN`)"
    );
    cli.run(&["whoami"]).ok();
}
