//! The runtime commands of the real binary against a real server with the local backend:
//! `jobs run` (working files, ignore rules, output, exit codes, the MLflow environment,
//! detaching with `--detach` and with Ctrl-C, resuming a broken output stream), `jobs
//! list|show|logs|stop|rerun`, the queue behind `quota set`, `pools` and `classes` for
//! admins and not for others, `usage --csv`, and the default project of `projects use`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{plinth, workdir, Server, ADMIN_PASSWORD};

const BOB_PASSWORD: &str = "a-long-and-unusual-passphrase-42";
/// Longest any one command may take before the test fails instead of hanging.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// One run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub(crate) fn ok(self) -> String {
        assert_eq!(self.code, 0, "failed: {self:#?}");
        self.stdout
    }

    /// Asserts a one-line `error: …` and exit code 1, and returns that line.
    #[track_caller]
    pub(crate) fn error(self) -> String {
        assert_eq!(self.code, 1, "expected exit code 1: {self:#?}");
        let line = self.stderr.lines().last().unwrap_or_default().to_string();
        assert!(
            line.starts_with("error: ") && self.stderr.matches("error:").count() == 1,
            "not one `error:` line: {self:#?}"
        );
        line
    }
}

/// The CLI of one user: its own config folder and working folder.
pub(crate) struct Cli {
    pub(crate) work: PathBuf,
    config: PathBuf,
}

impl Cli {
    pub(crate) fn new(root: &Path, name: &str) -> Cli {
        let work = root.join(format!("{name}-work"));
        fs_err::create_dir_all(&work).unwrap();
        Cli {
            work,
            config: root.join(format!("{name}-config")),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = plinth(&self.work);
        command.env("PLINTH_CONFIG_DIR", &self.config).args(args);
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "")
    }

    /// Runs the binary to its end (at most [`COMMAND_TIMEOUT`]).
    pub(crate) fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
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
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("`plinth {}` did not end in time", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.recv().unwrap(),
            stderr: stderr.recv().unwrap(),
        }
    }

    pub(crate) fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.run(&args).ok();
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
    }

    pub(crate) fn login(&self, address: &str, username: &str, password: &str) {
        self.run_with(
            &[
                "login",
                "--url",
                address,
                "--username",
                username,
                "--password-stdin",
            ],
            &format!("{password}\n"),
        )
        .ok();
    }

    /// Waits until `jobs show ID` is in `state`, and returns the job.
    fn wait_for_state(&self, id: &str, state: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = self.json(&["jobs", "show", id]);
            if job["state"] == state {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not become {state}: {job:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Reads a pipe to its end on a thread.
fn collect(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// Returns the job id in a `job ID submitted (…)` line on stderr.
#[track_caller]
fn submitted_id(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("job ") && line.contains(" submitted ("))
        .unwrap_or_else(|| panic!("no `job … submitted` line in:\n{stderr}"));
    let id = line.split_whitespace().nth(1).unwrap().to_string();
    assert_id(&id);
    id
}

#[track_caller]
fn assert_id(id: &str) {
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a job id: `{id}`"
    );
}

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// A server with an admin CLI logged in and one project, `acme/churn`.
fn server_with_project(dir: &Path) -> (Server, Cli) {
    let server = Server::start(dir, &[], &[]);
    let admin = Cli::new(dir, "admin");
    admin.login(&server.address, "admin", ADMIN_PASSWORD);
    admin.run(&["orgs", "create", "acme"]).ok();
    admin.run(&["projects", "create", "acme/churn"]).ok();
    (server, admin)
}

#[test]
fn jobs_run_sends_the_folder_shows_the_output_and_exits_like_the_job() {
    let dir = workdir();
    let (server, admin) = server_with_project(dir.path());
    let work = &admin.work;
    write(work, "train.py", "print('training')\n");
    write(work, "data/small.csv", "a,b\n1,2\n");
    write(work, "data/big.bin", "pretend this is large");
    write(work, "secret.env", "TOKEN=do-not-upload");
    write(work, "out/model.pkl", "old output");
    write(work, ".gitignore", "secret.env\nout/\n");
    write(work, ".plinthignore", "data/big.bin\n");

    // The working files arrive without what the ignore files leave out; the output comes
    // to stdout, one line about the job to stderr. (Only one project: no --project.)
    let run = admin.run(&[
        "jobs",
        "run",
        "--",
        "sh",
        "-c",
        "find . -type f | LC_ALL=C sort",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    let listed: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        listed,
        [
            "./.gitignore",
            "./.plinthignore",
            "./data/small.csv",
            "./train.py"
        ],
        "{run:#?}"
    );
    let id = submitted_id(&run.stderr);
    assert!(
        run.stderr
            .contains(&format!("job {id} submitted (class small)")),
        "{run:#?}"
    );

    // The job's exit code is plinth's, with no `error:` line.
    let run = admin.run(&["jobs", "run", "--", "sh", "-c", "echo bye; exit 7"]);
    assert_eq!((run.code, run.stdout.as_str()), (7, "bye\n"), "{run:#?}");
    assert!(!run.stderr.contains("error"), "{run:#?}");

    // The server injects the MLflow and Plinth variables; --env adds more.
    let stdout = admin
        .run(&[
            "jobs",
            "run",
            "--env",
            "LR=0.01",
            "--",
            "sh",
            "-c",
            "echo $MLFLOW_TRACKING_URI; echo $PLINTH_PROJECT; echo $LR; test -n \"$MLFLOW_TRACKING_TOKEN\" && echo token",
        ])
        .ok();
    assert_eq!(
        stdout,
        format!("{}\nacme/churn\n0.01\ntoken\n", server.address)
    );

    // --no-snapshot: an empty working folder.
    let stdout = admin
        .run(&[
            "jobs",
            "run",
            "--no-snapshot",
            "--",
            "sh",
            "-c",
            "ls -A | wc -l",
        ])
        .ok();
    assert_eq!(stdout.trim(), "0");

    // The server's refusals, as one line.
    let refused = admin
        .run(&["jobs", "run", "--class", "huge", "--", "echo", "x"])
        .error();
    assert!(
        refused.contains("no resource class `huge`") && refused.contains("small, medium"),
        "{refused}"
    );
    let refused = admin
        .run(&["jobs", "run", "--", "no-such-program-here", "--flag"])
        .error();
    assert!(refused.ends_with("not found in PATH"), "{refused}");
    assert!(refused.contains("no-such-program-here"), "{refused}");

    // --detach prints the id alone; `jobs logs --follow` shows the output to the end.
    let run = admin.run(&[
        "jobs",
        "run",
        "--detach",
        "--name",
        "later",
        "--",
        "sh",
        "-c",
        "sleep 1; echo later; echo on-stderr >&2",
    ]);
    let detached = run.stdout.trim().to_string();
    assert_eq!(run.code, 0, "{run:#?}");
    assert_id(&detached);
    assert_eq!(submitted_id(&run.stderr), detached);
    let followed = admin.run(&["jobs", "logs", "--follow", &detached]).ok();
    assert_eq!(followed, "later\non-stderr\n");
    let job = admin.wait_for_state(&detached, "succeeded");
    assert_eq!(job["name"], "later");
    assert_eq!(job["exit_code"], 0);
    // A unique start of the id does, as `jobs list` shows it.
    let short = &detached[..12];
    assert_eq!(
        admin.run(&["jobs", "logs", short]).ok(),
        "later\non-stderr\n"
    );
    assert_eq!(
        admin.run(&["jobs", "logs", short, "--tail", "1"]).ok(),
        "on-stderr\n"
    );
    let shown = admin.run(&["jobs", "show", short]).ok();
    assert!(
        shown
            .lines()
            .any(|line| line.starts_with("id:") && line.ends_with(&detached)),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|line| line.starts_with("state:") && line.ends_with("succeeded")),
        "{shown}"
    );

    // `jobs list --json`: newest first, every job above (the refused ones left nothing).
    let listed = admin.json(&["jobs", "list"]);
    let jobs = listed.as_array().unwrap();
    assert_eq!(jobs.len(), 5, "{listed:#}");
    assert_eq!(jobs[0]["id"], detached.as_str());
    assert_eq!(jobs[4]["id"], id.as_str());
    assert_eq!(jobs[3]["state"], "failed");
    assert_eq!(jobs[3]["exit_code"], 7);
    let table = admin.run(&["jobs", "list", "--limit", "2"]).ok();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID  "), "{table}");
    assert!(
        lines[1].starts_with(short) && lines[1].contains("later") && lines[1].contains("admin"),
        "{table}"
    );

    // The ledger has the work, by day, project, user and class.
    let csv = admin.run(&["usage", "--csv"]).ok();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("day,project,user,class,cpu_hours,memory_gib_hours,gpu_hours,wall_hours")
    );
    let row = lines.next().unwrap_or_else(|| panic!("no row:\n{csv}"));
    assert!(row.contains(",acme/churn,admin,small,"), "{csv}");
    let table = admin.run(&["usage"]).ok();
    assert!(
        table.starts_with("DAY") && table.contains("admin") && table.contains("total"),
        "{table}"
    );
}

#[test]
fn queued_stopped_and_detached_jobs() {
    let dir = workdir();
    let (_server, admin) = server_with_project(dir.path());
    let shown = admin
        .run(&[
            "quota",
            "set",
            "--max-jobs",
            "1",
            "--cpu",
            "4",
            "--memory",
            "16GiB",
        ])
        .ok();
    assert!(shown.contains("CPU           0 / 4 cores"), "{shown}");

    // The first job takes the only slot; the second waits, and says so.
    let first = admin
        .run(&[
            "jobs",
            "run",
            "--detach",
            "--no-snapshot",
            "--",
            "sleep",
            "60",
        ])
        .ok()
        .trim()
        .to_string();
    assert_id(&first);
    let run = admin.run(&["jobs", "run", "--detach", "--", "echo", "second"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let second = run.stdout.trim().to_string();
    assert!(
        run.stderr.contains(&format!(
            "job {second} submitted (class small, queued: position 1 — waiting for quota: running jobs: 1 of 1)"
        )),
        "{run:#?}"
    );
    let job = admin.json(&["jobs", "show", &second]);
    assert_eq!(
        (job["state"].as_str(), job["queue_position"].as_u64()),
        (Some("queued"), Some(1))
    );
    let queued = admin.json(&["jobs", "list", "--state", "queued"]);
    assert_eq!(queued.as_array().unwrap().len(), 1, "{queued:#}");
    assert_eq!(queued[0]["id"], second.as_str());
    let table = admin
        .run(&["jobs", "list", "--state", "queued,running"])
        .ok();
    assert!(
        table.contains("queued #1") && table.contains("running"),
        "{table}"
    );
    let quota = admin.run(&["quota", "show"]).ok();
    assert!(
        quota.contains("jobs          1 / 1 running, 1 queued"),
        "{quota}"
    );
    assert!(quota.contains("memory        2 GiB / 16 GiB"), "{quota}");

    // Stopping the first ends it and lets the second run.
    let stopped = admin.run(&["jobs", "stop", &first]).ok();
    assert_eq!(stopped.trim(), format!("stopped job {first} (stopped)"));
    assert_eq!(admin.json(&["jobs", "show", &first])["state"], "stopped");
    assert_eq!(admin.run(&["jobs", "logs", "-f", &second]).ok(), "second\n");
    admin.wait_for_state(&second, "succeeded");

    // A re-run queues behind the running job; followed, it ends with the reason it was
    // stopped and exit code 1.
    let run = admin.run(&["jobs", "run", "--detach", "--", "sleep", "60"]);
    let third = run.stdout.trim().to_string();
    admin.wait_for_state(&third, "running");
    let mut follower = admin
        .command(&["jobs", "rerun", &first, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut follower_stderr = BufReader::new(follower.stderr.take().unwrap());
    let mut line = String::new();
    follower_stderr.read_line(&mut line).unwrap();
    let rerun = submitted_id(&line);
    assert!(
        line.contains(&format!("rerun of {first}, queued: position 1")),
        "{line}"
    );
    admin.run(&["jobs", "stop", &third]).ok();
    admin.wait_for_state(&rerun, "running");
    admin.run(&["jobs", "stop", &rerun]).ok();
    let status = wait(&mut follower);
    let mut rest = String::new();
    follower_stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status, Some(1), "{rest}");
    assert!(
        rest.trim_end()
            .starts_with(&format!("error: job `{rerun}` was stopped")),
        "{rest}"
    );

    // Ctrl-C detaches: exit 130, the job keeps running.
    let mut child = admin
        .command(&["jobs", "run", "--", "sh", "-c", "echo started; sleep 60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "started\n");
    interrupt(&child);
    let status = wait(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status, Some(130), "{stderr}");
    let id = submitted_id(&stderr);
    assert!(
        stderr.contains(&format!(
            "detached; the job keeps running — plinth jobs logs --follow {id} / plinth jobs stop {id}"
        )),
        "{stderr}"
    );
    assert_eq!(admin.json(&["jobs", "show", &id])["state"], "running");
    assert_eq!(admin.run(&["jobs", "logs", &id]).ok(), "started\n");
    admin.run(&["jobs", "stop", &id]).ok();
}

/// Sends SIGINT, as Ctrl-C in a terminal does.
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("plinth did not exit after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pools_classes_and_quotas_are_for_admins_and_projects_use_sets_the_default() {
    let dir = workdir();
    let (server, admin) = server_with_project(dir.path());
    admin.run(&["projects", "create", "acme/vision"]).ok();

    let created = admin
        .run(&[
            "pools",
            "set",
            "fast",
            "--label",
            "disk=nvme",
            "--taint",
            "dedicated=fast:NoSchedule",
            "--description",
            "NVMe nodes",
        ])
        .ok();
    assert_eq!(created.trim(), "created node pool `fast`");
    let pools = admin.run(&["pools", "list"]).ok();
    let row = pools
        .lines()
        .find(|line| line.starts_with("fast "))
        .unwrap_or_else(|| panic!("{pools}"));
    assert!(
        row.contains("disk=nvme")
            && row.contains("dedicated=fast:NoSchedule")
            && row.ends_with("NVMe nodes"),
        "{row}"
    );
    let created = admin
        .run(&[
            "classes", "set", "tiny", "--pool", "fast", "--cpu", "0.5", "--memory", "512MiB",
        ])
        .ok();
    assert_eq!(
        created.trim(),
        "created resource class `tiny`: 0.5 CPU, 512 MiB on pool `fast`"
    );
    let changed = admin
        .run(&["classes", "set", "tiny", "--memory", "1GiB"])
        .ok();
    assert_eq!(
        changed.trim(),
        "updated resource class `tiny`: 0.5 CPU, 1 GiB on pool `fast`"
    );
    let classes = admin.json(&["classes", "list"]);
    let tiny = classes
        .as_array()
        .unwrap()
        .iter()
        .find(|class| class["name"] == "tiny")
        .unwrap_or_else(|| panic!("{classes:#}"));
    assert_eq!(
        (tiny["cpu_millis"].as_u64(), tiny["memory_bytes"].as_u64()),
        (Some(500), Some(1 << 30))
    );
    let missing = admin.run(&["classes", "set", "new", "--cpu", "1"]).error();
    assert!(
        missing.contains("pass `--pool`, `--cpu` and `--memory`"),
        "{missing}"
    );
    let bad = admin.run(&["classes", "set", "x", "--memory", "lots"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("512MiB"), "{bad:#?}");

    // Bob is a contributor of both projects, and no admin.
    admin
        .run_with(
            &[
                "users",
                "create",
                "bob",
                "--email",
                "bob@example.com",
                "--password-stdin",
            ],
            BOB_PASSWORD,
        )
        .ok();
    admin.run(&["orgs", "add-member", "acme", "bob"]).ok();
    for project in ["acme/churn", "acme/vision"] {
        admin
            .run(&[
                "projects",
                "add-member",
                project,
                "bob",
                "--role",
                "contributor",
            ])
            .ok();
    }
    let bob = Cli::new(dir.path(), "bob");
    bob.login(&server.address, "bob", BOB_PASSWORD);
    for args in [
        &["pools", "set", "mine", "--label", "a=b"][..],
        &["pools", "delete", "fast"],
        &["classes", "set", "tiny", "--cpu", "64"],
        &["classes", "delete", "tiny"],
        &[
            "quota",
            "set",
            "--project",
            "acme/churn",
            "--max-jobs",
            "100",
        ],
        &["usage", "--all"],
    ] {
        let refused = bob.run(args).error();
        assert!(
            refused.to_lowercase().contains("admin"),
            "{args:?}: {refused}"
        );
    }
    assert!(bob.run(&["classes", "list"]).ok().contains("tiny"));
    // Unchanged by Bob's attempts.
    assert_eq!(
        admin
            .json(&["classes", "list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|class| class["name"] == "tiny")
            .unwrap()["cpu_millis"],
        500
    );

    // Two projects and no default: the commands say how to choose.
    let which = bob.run(&["jobs", "list"]).error();
    assert!(
        which.contains("--project")
            && which.contains("plinth projects use")
            && which.contains("acme/vision"),
        "{which}"
    );
    let chosen = bob.run(&["projects", "use", "acme/vision"]).ok();
    assert_eq!(
        chosen.trim(),
        format!(
            "`acme/vision` is now the default project on {}",
            server.address
        )
    );
    assert_eq!(bob.run(&["projects", "use"]).ok().trim(), "acme/vision");
    let stdout = bob
        .run(&[
            "jobs",
            "run",
            "--no-snapshot",
            "--",
            "sh",
            "-c",
            "echo $PLINTH_PROJECT",
        ])
        .ok();
    assert_eq!(stdout, "acme/vision\n");
    assert_eq!(bob.json(&["jobs", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(
        bob.json(&["jobs", "list", "--project", "acme/churn"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let quota = bob.run(&["quota", "show"]).ok();
    assert!(quota.starts_with("project `acme/vision`"), "{quota}");
    let unknown = bob.run(&["projects", "use", "acme/nope"]).error();
    assert!(unknown.contains("acme/nope"), "{unknown}");
    bob.run(&["projects", "use", "--clear"]).ok();
    bob.run(&["jobs", "list"]).error();

    // Admins delete what they made.
    admin.run(&["classes", "delete", "tiny"]).ok();
    admin.run(&["pools", "delete", "fast"]).ok();
    assert!(!admin.run(&["pools", "list"]).ok().contains("fast "));
}

/// A server on a fixed port, so that it can be killed and started again at the same
/// address while a client follows a job.
struct FixedServer {
    child: Child,
}

impl FixedServer {
    fn start(dir: &Path, port: u16) -> FixedServer {
        let mut child = plinth(dir)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "json",
            ])
            .env("PLINTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn plinth serve");
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("plinth is ready") {
                    let _ = ready_tx.send(());
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!("plinth serve on port {port} did not become ready");
        }
        FixedServer { child }
    }
}

impl Drop for FixedServer {
    fn drop(&mut self) {
        // SIGKILL: the local backend's workloads outlive it, as after a crash.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_broken_output_stream_is_resumed_where_it_stopped() {
    let dir = workdir();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let address = format!("http://127.0.0.1:{port}");
    let server = FixedServer::start(dir.path(), port);
    let admin = Cli::new(dir.path(), "admin");
    admin.login(&address, "admin", ADMIN_PASSWORD);
    admin.run(&["orgs", "create", "acme"]).ok();
    admin.run(&["projects", "create", "acme/churn"]).ok();

    let mut child = admin
        .command(&[
            "jobs",
            "run",
            "--no-snapshot",
            "--",
            "sh",
            "-c",
            "for i in $(seq 1 30); do echo line $i; sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "line 1\n");
    // The server dies mid-stream and comes back a moment later at the same address.
    drop(server);
    std::thread::sleep(Duration::from_millis(700));
    let _server = FixedServer::start(dir.path(), port);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = wait(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let expected: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    assert_eq!(format!("{first}{rest}"), expected, "{stderr}");
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("note: the output stream broke off"),
        "{stderr}"
    );
}

#[test]
fn the_runtime_commands_are_listed_and_checked_before_any_request() {
    let dir = workdir();
    let cli = Cli::new(dir.path(), "user");
    let help = cli.run(&["--help"]).ok();
    for command in ["jobs", "pools", "classes", "quota", "usage"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "{command} missing from:\n{help}"
        );
    }
    let help = cli.run(&["jobs", "run", "--help"]).ok();
    assert!(
        help.contains(".plinthignore") && help.contains("Ctrl-C"),
        "{help}"
    );
    // The command comes after `--`; sizes and CPU amounts are checked by the CLI.
    let bad = cli.run(&["jobs", "run", "echo", "hi"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    let bad = cli.run(&["classes", "set", "x", "--cpu", "1.2345"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("up to 3 decimals"), "{bad:#?}");
    let bad = cli.run(&["pools", "set", "x", "--taint", "a=b:Sometimes"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("NoSchedule"), "{bad:#?}");
    // Not logged in: one line, before any snapshot is made.
    assert_eq!(
        cli.run(&["jobs", "run", "--", "echo", "hi"]).error(),
        "error: not logged in; run `plinth login --url URL`"
    );
}
