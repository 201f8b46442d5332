//! `plinth jobs …`: run a command on the platform with the current folder as its working
//! files and watch its output; list, show, follow, stop and re-run jobs.
//!
//! `jobs run` snapshots the folder (see [`super::snapshot`]), uploads the archive unless
//! the project has it already, submits the job, prints one line about it on stderr, then
//! copies the job's output to stdout until the job ends and exits with the job's exit
//! code. Ctrl-C only detaches: the job keeps running. A log stream that breaks off is
//! resumed where it stopped (`offset` = bytes already printed).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use plinth_client::{ClientError, JobListQuery, JobRequest, JobView, LogQuery, WorkloadState};

use super::output::{optional_time, or_dash, print_fields, print_json, time, transfer_bar, Table};
use super::project::{self, ProjectArgs, ProjectSource};
use super::snapshot::{self, Snapshot};
use super::units::{format_age, format_bytes, format_cpu, format_duration, now_ms};
use super::{block_on, ProjectRef, RemoteArgs, Session};
use crate::cli::Failure;

/// How many characters of a job id tables show (ids are 32 hex digits, time-ordered).
const SHORT_ID: usize = 12;
/// How long `jobs stop` waits for a running job to end.
const STOP_WAIT: Duration = Duration::from_secs(60);
/// Consecutive failed reconnections after which following gives up.
const MAX_RECONNECTS: u32 = 60;

/// Flags and subcommands of `plinth jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Run a command as a job, with this folder as its working files, and show its output.
    ///
    /// The folder (--dir, default: the current one) is packed without what .gitignore and
    /// .plinthignore leave out (and without .git/), uploaded, and unpacked as the job's
    /// working folder. A symbolic link to a file inside the folder is sent as a copy of
    /// the file; links to folders are left out; a link pointing outside the folder stops
    /// the run (add it to .plinthignore). The job's output (stdout and stderr together)
    /// comes to stdout; plinth exits with the job's exit code. Ctrl-C detaches: the job
    /// keeps running.
    ///
    /// The job gets MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, PLINTH_URL, PLINTH_TOKEN,
    /// PLINTH_PROJECT and PLINTH_JOB_ID. PLINTH_TIMING=1 prints how long each step took.
    #[command(
        after_help = "Examples:\n  plinth jobs run -- python train.py --epochs 3\n  plinth jobs run --env train:3 -- python train.py\n  plinth jobs run --class medium --var LR=0.01 --detach -- python train.py"
    )]
    Run(RunArgs),
    /// List a project's jobs, newest first.
    List {
        #[command(flatten)]
        project: ProjectArgs,
        /// Only jobs in these states (comma-separated).
        #[arg(long, value_enum, value_delimiter = ',', value_name = "STATE,…")]
        state: Vec<StateArg>,
        /// At most this many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
    },
    /// Show a job.
    Show {
        /// The job's id (or a unique start of it, as `jobs list` shows).
        id: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Print a job's output (stdout and stderr together).
    Logs {
        /// The job's id (or a unique start of it).
        id: String,
        #[command(flatten)]
        project: ProjectArgs,
        /// Keep printing output as it comes until the job ends (waits for a queued job to
        /// start).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the last N lines (then follow, with --follow).
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
    },
    /// Stop a job: a queued job leaves the queue; a running one gets SIGTERM, then SIGKILL
    /// after the server's grace period.
    Stop {
        /// The job's id (or a unique start of it).
        id: String,
        #[command(flatten)]
        project: ProjectArgs,
        /// Return once the stop is requested instead of waiting for the job to end.
        #[arg(long)]
        no_wait: bool,
    },
    /// Run a job again: same class, command, environment and working files.
    Rerun {
        /// The job's id (or a unique start of it).
        id: String,
        #[command(flatten)]
        project: ProjectArgs,
        /// Show the new job's output and exit with its exit code, as `jobs run` does.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

/// Flags of `plinth jobs run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// The resource class (`plinth classes list` shows them).
    #[arg(long, short = 'c', default_value = "small", value_name = "CLASS")]
    class: String,
    /// The folder to send as the job's working files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    dir: PathBuf,
    /// A name for listings [default: the program and its first argument].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The environment to run in, `NAME` (its latest version) or `NAME:VERSION`
    /// (`plinth envs list`); unset: the platform's default environment. A value with `=`
    /// is an environment variable, as `--var` takes.
    #[arg(long, short = 'e', value_name = "NAME[:VERSION]", value_parser = parse_env_flag)]
    env: Vec<EnvFlag>,
    /// An environment variable for the job; `--var NAME` alone passes your own value.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env)]
    var: Vec<(String, String)>,
    /// The container image (Kubernetes backend; the local backend ignores it).
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// Send no working files: the job starts in an empty folder.
    #[arg(long)]
    no_snapshot: bool,
    /// Print the job's id and return at once.
    #[arg(long, short = 'd')]
    detach: bool,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// A job state on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum StateArg {
    Queued,
    Starting,
    Pending,
    Running,
    Succeeded,
    Failed,
    Stopped,
    Lost,
}

impl StateArg {
    fn as_str(self) -> &'static str {
        match self {
            StateArg::Queued => "queued",
            StateArg::Starting => "starting",
            StateArg::Pending => "pending",
            StateArg::Running => "running",
            StateArg::Succeeded => "succeeded",
            StateArg::Failed => "failed",
            StateArg::Stopped => "stopped",
            StateArg::Lost => "lost",
        }
    }
}

/// A `--env` value: an environment to run in, or (with `=`) a variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum EnvFlag {
    /// An environment reference.
    Environment(String),
    /// A variable.
    Variable(String, String),
}

pub(super) fn parse_env_flag(text: &str) -> Result<EnvFlag, String> {
    if text.contains('=') {
        let (name, value) = parse_env(text)?;
        Ok(EnvFlag::Variable(name, value))
    } else if text.is_empty() {
        Err("give an environment, `NAME` or `NAME:VERSION`".to_string())
    } else {
        Ok(EnvFlag::Environment(text.to_string()))
    }
}

/// Parses `NAME=VALUE`, or `NAME` alone for the caller's own value of `NAME`.
pub(super) fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some(("", _)) => Err(format!("`{text}`: the name is empty")),
        Some((name, value)) => Ok((name.to_string(), value.to_string())),
        None => match std::env::var(text) {
            Ok(value) => Ok((text.to_string(), value)),
            Err(_) => Err(format!(
                "`{text}` is not set here; pass `{text}=VALUE` to give it a value"
            )),
        },
    }
}

/// Runs `plinth jobs …`.
pub fn run(args: JobsArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    block_on(async {
        let session = &session;
        match args.command {
            JobsCommand::Run(run_args) => run_job(session, run_args, json).await,
            JobsCommand::List {
                project,
                state,
                limit,
            } => list(session, &project, &state, limit, json).await,
            JobsCommand::Show { id, project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let id = resolve_id(session, &project, &id).await?;
                let job = session
                    .client()
                    .get_job(&project.organization, &project.project, &id)
                    .await
                    .map_err(|error| session.failure(error))?;
                if json {
                    return print_json(&job);
                }
                show(&job);
                Ok(())
            }
            JobsCommand::Logs {
                id,
                project,
                follow,
                tail,
            } => {
                let (project, _) = project::resolve(session, &project).await?;
                let id = resolve_id(session, &project, &id).await?;
                if follow {
                    follow_output(session, &project, &id, tail, &mut |_| {}).await?;
                } else {
                    print_output(session, &project, &id, tail).await?;
                }
                Ok(())
            }
            JobsCommand::Stop {
                id,
                project,
                no_wait,
            } => {
                let (project, _) = project::resolve(session, &project).await?;
                let id = resolve_id(session, &project, &id).await?;
                stop(session, &project, &id, no_wait, json).await
            }
            JobsCommand::Rerun {
                id,
                project: project_args,
                follow,
            } => {
                let (project, source) = project::resolve(session, &project_args).await?;
                let id = resolve_id(session, &project, &id).await?;
                let interrupted = watch_interrupts();
                let job = session
                    .client()
                    .rerun_job(&project.organization, &project.project, &id)
                    .await
                    .map_err(|error| session.failure(error))?;
                eprintln!("{}", submitted_line(&job));
                if !follow {
                    if json {
                        return print_json(&job);
                    }
                    println!("{}", job.job.id);
                    return Ok(());
                }
                let hints = Hints::new(&project, source, &job.job.id);
                watch_to_the_end(session, &project, &job, &hints, &interrupted, None).await
            }
        }
    })
}

// ---------- jobs run ----------

/// Step timings for `PLINTH_TIMING=1`.
struct Timing {
    started: Instant,
    enabled: bool,
    steps: Vec<(String, Duration)>,
}

impl Timing {
    fn start() -> Self {
        Timing {
            started: Instant::now(),
            enabled: super::credentials::env_var("PLINTH_TIMING").is_some_and(|value| value != "0"),
            steps: Vec::new(),
        }
    }

    fn step(&mut self, name: impl Into<String>) {
        self.steps.push((name.into(), self.started.elapsed()));
    }

    fn report(&self) {
        if !self.enabled {
            return;
        }
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(name, at)| format!("{name} {:.1} ms", at.as_secs_f64() * 1000.0))
            .collect();
        eprintln!("timing (since start): {}", steps.join(", "));
    }
}

/// What to tell people when they detach: the follow-up commands, with `--project` when
/// the project came from the command line.
struct Hints {
    project_flag: String,
    id: String,
}

impl Hints {
    fn new(project: &ProjectRef, source: ProjectSource, id: &str) -> Self {
        Hints {
            project_flag: if source == ProjectSource::Flag {
                format!(" --project {project}")
            } else {
                String::new()
            },
            id: id.to_string(),
        }
    }

    fn detached(&self) -> String {
        format!(
            "detached; the job keeps running — plinth jobs logs --follow {id}{flag} / plinth jobs stop {id}{flag}",
            id = self.id,
            flag = self.project_flag
        )
    }
}

/// Returns a flag that turns true at the first Ctrl-C (SIGINT), from now on: the default
/// action (ending the process) no longer happens.
fn watch_interrupts() -> Arc<tokio::sync::Notify> {
    let notify = Arc::new(tokio::sync::Notify::new());
    let notifier = Arc::clone(&notify);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            // `notify_one` keeps a permit when nobody waits yet.
            notifier.notify_one();
        }
    });
    notify
}

async fn run_job(session: &Session, args: RunArgs, json: bool) -> Result<(), Failure> {
    let mut timing = Timing::start();
    let interrupted = watch_interrupts();
    let client = session.client();
    let mut env: BTreeMap<String, String> = args.var.iter().cloned().collect();
    let mut environment = None;
    for flag in &args.env {
        match flag {
            EnvFlag::Variable(name, value) => {
                env.insert(name.clone(), value.clone());
            }
            EnvFlag::Environment(reference) if environment.is_none() => {
                environment = Some(reference.clone());
            }
            EnvFlag::Environment(reference) => {
                return Err(Failure::runtime(format!(
                    "`--env {reference}`: a job runs in one environment; give `--env` once (variables: `--var NAME=VALUE`)"
                )));
            }
        }
    }

    // Snapshot (on a blocking thread) while the project is looked up.
    let cancelled = Arc::new(AtomicBool::new(false));
    let prepared = async {
        let building = (!args.no_snapshot).then(|| {
            let dir = args.dir.clone();
            let cancelled = Arc::clone(&cancelled);
            let bar = spinner();
            tokio::task::spawn_blocking(move || {
                let result = snapshot::build(&dir, &cancelled, &mut |files, bytes| {
                    bar.set_message(format!("{files} files, {}", format_bytes(bytes)));
                });
                bar.finish_and_clear();
                result
            })
        });
        let (project, source) = project::resolve(session, &args.project).await?;
        timing.step("project");
        let snapshot = match building {
            Some(task) => {
                let snapshot = task
                    .await
                    .map_err(|error| Failure::runtime(format!("snapshot failed: {error}")))?
                    .map_err(Failure::runtime)?;
                for warning in &snapshot.warnings {
                    eprintln!("warning: {warning}");
                }
                timing.step(format!(
                    "snapshot ({} files, {} → {})",
                    snapshot.files,
                    format_bytes(snapshot.content_bytes),
                    format_bytes(snapshot.size)
                ));
                upload(session, &project, &snapshot).await?;
                timing.step("upload");
                Some(snapshot)
            }
            None => None,
        };
        Ok::<_, Failure>((project, source, snapshot))
    };
    let (project, source, snapshot) = tokio::select! {
        prepared = prepared => prepared?,
        () = interrupted.notified() => {
            cancelled.store(true, Ordering::Relaxed);
            eprintln!("interrupted; no job was submitted");
            return Err(Failure::silent(130));
        }
    };

    let request = JobRequest {
        name: args.name.clone(),
        class: args.class.clone(),
        command: args.command.clone(),
        env,
        snapshot: snapshot.as_ref().map(|snapshot| snapshot.sha256.clone()),
        image: args.image.clone(),
        custom_size: None,
        environment: environment.clone(),
    };
    // The first use of an environment version resolves and builds it within the
    // submission: say so while it runs.
    let bar = (!json).then(|| {
        let bar = progress_line("");
        bar.set_message(format!(
            "preparing environment {} (its first use resolves and builds it)",
            environment.as_deref().unwrap_or("default")
        ));
        bar
    });
    let submitted = client
        .submit_job(&project.organization, &project.project, &request)
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let job = submitted.map_err(|error| session.failure(error))?;
    timing.step("submit");
    // The archive is on the server now.
    drop(snapshot);
    eprintln!("{}", submitted_line(&job));
    if args.detach {
        timing.report();
        if json {
            return print_json(&job);
        }
        println!("{}", job.job.id);
        return Ok(());
    }
    let hints = Hints::new(&project, source, &job.job.id);
    watch_to_the_end(session, &project, &job, &hints, &interrupted, Some(timing)).await
}

/// Uploads the snapshot unless the project has it already.
pub(super) async fn upload(
    session: &Session,
    project: &ProjectRef,
    snapshot: &Snapshot,
) -> Result<(), Failure> {
    let client = session.client();
    let (organization, name) = (&project.organization, &project.project);
    // A failed lookup is no reason to stop: the upload says what is wrong, if anything.
    if client
        .snapshot_exists(organization, name, &snapshot.sha256)
        .await
        .unwrap_or(false)
    {
        return Ok(());
    }
    let path = snapshot.file.path();
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|error| Failure::runtime(format!("cannot read `{}`: {error}", path.display())))?;
    let bar = transfer_bar("uploading working files", snapshot.size);
    let counter = bar.clone();
    let body =
        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.inc(chunk.len() as u64);
            }
        });
    let uploaded = client
        .upload_snapshot(organization, name, &snapshot.sha256, snapshot.size, body)
        .await;
    bar.finish_and_clear();
    uploaded.map_err(|error| session.failure(error))?;
    Ok(())
}

pub(super) fn spinner() -> ProgressBar {
    progress_line("packing working files: ")
}

/// A spinner on standard error (hidden when it is not a terminal) showing `prefix` and
/// then its message.
pub(super) fn progress_line(prefix: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {prefix}{{msg}}"))
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// `job ID submitted (class small)`, with the queue position and reason when queued.
fn submitted_line(job: &JobView) -> String {
    let mut line = format!("job {} submitted (class {}", job.job.id, job.job.class);
    if let Some(original) = &job.job.rerun_of {
        line.push_str(&format!(", rerun of {original}"));
    }
    if job.job.state == WorkloadState::Queued {
        line.push_str(", queued");
        if let Some(position) = job.queue_position {
            line.push_str(&format!(": position {position}"));
        }
        if !job.job.reason.is_empty() {
            line.push_str(&format!(" — {}", job.job.reason));
        }
    }
    line.push(')');
    line
}

/// Follows a job's output to its end, then exits as the job did. Ctrl-C detaches.
async fn watch_to_the_end(
    session: &Session,
    project: &ProjectRef,
    job: &JobView,
    hints: &Hints,
    interrupted: &tokio::sync::Notify,
    mut timing: Option<Timing>,
) -> Result<(), Failure> {
    let mut first_output = |bytes: u64| {
        if let Some(mut timing) = timing.take() {
            timing.step(if bytes == 0 {
                "end (no output)"
            } else {
                "first output"
            });
            timing.report();
        }
    };
    let followed = follow_output(session, project, &job.job.id, None, &mut first_output);
    let finished = tokio::select! {
        finished = followed => finished?,
        () = interrupted.notified() => {
            eprintln!("{}", hints.detached());
            return Err(Failure::silent(130));
        }
    };
    // A job without output still gets its timings.
    first_output(0);
    conclude(&finished)
}

/// Exits as the job did: 0 when it succeeded, its exit code when it failed with one, else
/// 1 with the reason.
fn conclude(job: &JobView) -> Result<(), Failure> {
    let id = &job.job.id;
    let reason = if job.job.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", job.job.reason)
    };
    match (job.job.state, job.job.exit_code) {
        (WorkloadState::Succeeded, _) => Ok(()),
        (WorkloadState::Failed, Some(code)) if (1..=255).contains(&code) => {
            Err(Failure::silent(u8::try_from(code).unwrap_or(1)))
        }
        (WorkloadState::Failed, _) => Err(Failure::runtime(format!("job `{id}` failed{reason}"))),
        (WorkloadState::Stopped, _) => {
            Err(Failure::runtime(format!("job `{id}` was stopped{reason}")))
        }
        (WorkloadState::Lost, _) => Err(Failure::runtime(format!("job `{id}` was lost{reason}"))),
        (state, _) => Err(Failure::runtime(format!(
            "job `{id}` is still {}",
            state.as_str()
        ))),
    }
}

// ---------- output ----------

/// Writes a chunk of output to stdout; a closed stdout (`| head`) ends the command quietly.
pub(super) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::silent(141)),
        Err(error) => Err(Failure::runtime(format!(
            "cannot write the output: {error}"
        ))),
    }
}

/// Prints a job's output so far.
async fn print_output(
    session: &Session,
    project: &ProjectRef,
    id: &str,
    tail: Option<u32>,
) -> Result<(), Failure> {
    let mut stream = session
        .client()
        .job_logs(
            &project.organization,
            &project.project,
            id,
            &LogQuery {
                follow: false,
                offset: 0,
                tail,
            },
        )
        .await
        .map_err(|error| session.failure(error))?;
    while let Some(chunk) = stream.next().await {
        write_stdout(&chunk.map_err(|error| session.failure(error))?)?;
    }
    Ok(())
}

/// Copies a job's output to stdout as it comes until the job ends, and returns the ended
/// job. A stream that breaks off is resumed from the bytes printed so far (with `tail`,
/// which has no known start, from the end of the output at that moment);
/// `on_output(bytes so far)` is called after each chunk.
async fn follow_output(
    session: &Session,
    project: &ProjectRef,
    id: &str,
    tail: Option<u32>,
    on_output: &mut dyn FnMut(u64),
) -> Result<JobView, Failure> {
    let client = session.client();
    let (organization, name) = (&project.organization, &project.project);
    let mut offset = 0_u64;
    let mut tail = tail;
    let mut failures = 0_u32;
    let mut catching_up = false;
    loop {
        let query = LogQuery {
            follow: true,
            offset,
            tail,
        };
        let mut broken: Option<ClientError> = None;
        match client.job_logs(organization, name, id, &query).await {
            Ok(mut stream) => {
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(bytes) => {
                            write_stdout(&bytes)?;
                            offset += bytes.len() as u64;
                            failures = 0;
                            on_output(offset);
                        }
                        Err(error) => {
                            broken = Some(error);
                            break;
                        }
                    }
                }
            }
            Err(error @ ClientError::Http { .. }) => broken = Some(error),
            Err(error) if error.status().is_some_and(|status| status >= 500) => {
                broken = Some(error);
            }
            Err(error) => return Err(session.failure(error)),
        }
        if tail.is_some() && broken.is_some() {
            // The tail's start offset is unknown: resume from the end of the output.
            tail = Some(0);
            offset = 0;
        }

        if broken.is_none() {
            // A followed stream ends when the job ends; the server records the end a
            // moment later (its reconciler), so wait for that.
            if let Some(job) = wait_until_finished(session, project, id).await? {
                return Ok(job);
            }
            // Still running: something between us and the server ended the stream.
            continue;
        }
        let cause = broken.map(|error| error.to_string()).unwrap_or_default();
        // Ended while we were away? Then one more pass prints the rest and ends.
        if let Ok(job) = client.get_job(organization, name, id).await {
            if job.job.state.is_finished() {
                if catching_up {
                    return Ok(job);
                }
                catching_up = true;
                continue;
            }
        }
        failures += 1;
        if failures == 1 {
            eprintln!("note: the output stream broke off ({cause}); reconnecting…");
        }
        if failures > MAX_RECONNECTS {
            return Err(Failure::runtime(format!(
                "lost the output of job `{id}` ({cause}); it may still be running: plinth jobs logs --follow {id}"
            )));
        }
        let backoff = Duration::from_millis(200 * u64::from(failures.min(25)));
        tokio::time::sleep(backoff).await;
    }
}

/// Polls the job for up to two seconds; returns it once it has ended.
async fn wait_until_finished(
    session: &Session,
    project: &ProjectRef,
    id: &str,
) -> Result<Option<JobView>, Failure> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let job = session
            .client()
            .get_job(&project.organization, &project.project, id)
            .await
            .map_err(|error| session.failure(error))?;
        if job.job.state.is_finished() {
            return Ok(Some(job));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------- the other subcommands ----------

/// Turns what people type into a full job id: a full id as it is, else the one job whose
/// id starts with it (among the project's newest 5000).
async fn resolve_id(
    session: &Session,
    project: &ProjectRef,
    text: &str,
) -> Result<String, Failure> {
    let text = text.trim().to_ascii_lowercase();
    if text.len() == 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(text);
    }
    if text.len() < 4 {
        return Err(Failure::runtime(format!(
            "`{text}` is too short to name a job: give at least 4 characters of its id"
        )));
    }
    let mut matches = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = session
            .client()
            .list_jobs(
                &project.organization,
                &project.project,
                &JobListQuery {
                    state: None,
                    cursor,
                    limit: Some(500),
                },
            )
            .await
            .map_err(|error| session.failure(error))?;
        matches.extend(
            page.jobs
                .into_iter()
                .map(|job| job.job.id)
                .filter(|id| id.starts_with(&text)),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    match matches.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(Failure::runtime(format!(
            "job `{text}` not found in project `{project}`"
        ))),
        many => Err(Failure::runtime(format!(
            "`{text}` is the start of {} job ids ({}): give more of it",
            many.len(),
            many.join(", ")
        ))),
    }
}

async fn list(
    session: &Session,
    project: &ProjectArgs,
    states: &[StateArg],
    limit: i64,
    json: bool,
) -> Result<(), Failure> {
    let (project, _) = project::resolve(session, project).await?;
    let state = (!states.is_empty()).then(|| {
        states
            .iter()
            .map(|state| state.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    let mut jobs = Vec::new();
    let mut cursor = None;
    while (jobs.len() as i64) < limit {
        let page = session
            .client()
            .list_jobs(
                &project.organization,
                &project.project,
                &JobListQuery {
                    state: state.clone(),
                    cursor,
                    limit: Some((limit - jobs.len() as i64).min(500)),
                },
            )
            .await
            .map_err(|error| session.failure(error))?;
        jobs.extend(page.jobs);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if json {
        return print_json(&jobs);
    }
    let now = now_ms();
    let mut table = Table::new(&["ID", "NAME", "STATE", "CLASS", "DURATION", "BY", "CREATED"]);
    for job in &jobs {
        table.row(vec![
            job.job.id.chars().take(SHORT_ID).collect(),
            or_dash(&job.job.name),
            state_text(job),
            job.job.class.clone(),
            job.duration_ms
                .map_or_else(|| "-".to_string(), format_duration),
            or_dash(&job.job.created_by_username),
            format_age(job.job.created_at_ms, now),
        ]);
    }
    table.print(&format!("no jobs in project `{project}`"));
    Ok(())
}

/// `running`, `queued #2`, `failed (7)`.
fn state_text(job: &JobView) -> String {
    let state = job.job.state.as_str();
    match (job.job.state, job.queue_position, job.job.exit_code) {
        (WorkloadState::Queued, Some(position), _) => format!("{state} #{position}"),
        (WorkloadState::Failed, _, Some(code)) => format!("{state} ({code})"),
        _ => state.to_string(),
    }
}

fn show(job: &JobView) {
    let work = &job.job;
    let mut fields = vec![
        ("id", work.id.clone()),
        ("name", or_dash(&work.name)),
        ("state", state_text(job)),
    ];
    if !work.reason.is_empty() {
        fields.push(("reason", work.reason.clone()));
    }
    if work.stop_requested && !work.state.is_finished() {
        fields.push(("stop", "requested".to_string()));
    }
    let mut size = format!(
        "{} CPU, {}",
        format_cpu(work.cpu_millis.into()),
        format_bytes(work.memory_bytes)
    );
    if work.gpus > 0 {
        size.push_str(&format!(", {} GPU", work.gpus));
    }
    fields.extend([
        (
            "class",
            format!("{} ({size}) on pool {}", work.class, work.pool),
        ),
        ("command", shell_words(&work.spec.command)),
    ]);
    if !work.spec.env.is_empty() {
        let names: Vec<&str> = work.spec.env.keys().map(String::as_str).collect();
        fields.push(("environment", names.join(", ")));
    }
    if let Some(environment) = &work.spec.environment {
        fields.push((
            "runs in",
            format!(
                "{} (Python {}, lock {})",
                environment.label(),
                environment.python_version,
                environment.lock_hash
            ),
        ));
    }
    fields.push((
        "working files",
        work.spec
            .snapshot
            .as_ref()
            .map_or_else(|| "none".to_string(), |digest| format!("snapshot {digest}")),
    ));
    if let Some(image) = &work.spec.image {
        fields.push(("image", image.clone()));
    }
    if let Some(code) = work.exit_code {
        fields.push(("exit code", code.to_string()));
    }
    fields.extend([
        ("submitted by", or_dash(&work.created_by_username)),
        ("created", time(work.created_at_ms)),
        ("started", optional_time(work.started_at_ms, "-")),
        ("finished", optional_time(work.finished_at_ms, "-")),
        (
            "duration",
            job.duration_ms
                .map_or_else(|| "-".to_string(), format_duration),
        ),
    ]);
    if let Some(original) = &work.rerun_of {
        fields.push(("rerun of", original.clone()));
    }
    fields.push(("backend", work.backend.clone()));
    print_fields(&fields);
}

/// Joins a command for display, quoting what a shell would need quoted.
fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|word| {
            let plain = !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
            if plain {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn stop(
    session: &Session,
    project: &ProjectRef,
    id: &str,
    no_wait: bool,
    json: bool,
) -> Result<(), Failure> {
    let client = session.client();
    let (organization, name) = (&project.organization, &project.project);
    let fail = |error| session.failure(error);
    let before = client.get_job(organization, name, id).await.map_err(fail)?;
    let mut job = client
        .stop_job(organization, name, id)
        .await
        .map_err(fail)?;
    if before.job.state.is_finished() {
        if json {
            return print_json(&job);
        }
        println!("job {id} had already ended ({})", job.job.state.as_str());
        return Ok(());
    }
    if !no_wait {
        let deadline = Instant::now() + STOP_WAIT;
        while !job.job.state.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            job = client.get_job(organization, name, id).await.map_err(fail)?;
        }
    }
    if json {
        return print_json(&job);
    }
    if job.job.state.is_finished() {
        println!("stopped job {id} ({})", job.job.state.as_str());
    } else if no_wait {
        println!("stopping job {id}");
    } else {
        println!(
            "asked job {id} to stop; it is still {} (SIGKILL follows after the server's grace period)",
            job.job.state.as_str()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use plinth_client::{Workload, WorkloadCommand, WorkloadKind};

    use super::*;

    fn job(state: WorkloadState, exit_code: Option<i32>, reason: &str) -> JobView {
        JobView {
            job: Workload {
                id: "0190aaaabbbbccccddddeeeeffff0000".into(),
                project_id: "p".into(),
                kind: WorkloadKind::Job,
                name: "python train.py".into(),
                class: "small".into(),
                pool: "compute".into(),
                cpu_millis: 1000,
                memory_bytes: 2 << 30,
                gpus: 0,
                spec: WorkloadCommand::default(),
                state,
                reason: reason.into(),
                exit_code,
                stop_requested: false,
                created_by: "u".into(),
                created_by_username: "ada".into(),
                rerun_of: None,
                created_at_ms: 0,
                started_at_ms: None,
                finished_at_ms: None,
                accounted_until_ms: None,
                backend: "local".into(),
            },
            queue_position: (state == WorkloadState::Queued).then_some(2),
            duration_ms: None,
        }
    }

    #[test]
    fn the_exit_code_is_the_jobs() {
        assert!(conclude(&job(WorkloadState::Succeeded, Some(0), "")).is_ok());
        let failure = conclude(&job(WorkloadState::Failed, Some(7), "")).unwrap_err();
        assert_eq!((failure.exit_code, failure.message.as_str()), (7, ""));
        let failure =
            conclude(&job(WorkloadState::Failed, None, "killed by signal 9")).unwrap_err();
        assert_eq!(failure.exit_code, 1);
        assert!(
            failure.message.ends_with("failed: killed by signal 9"),
            "{}",
            failure.message
        );
        let failure =
            conclude(&job(WorkloadState::Stopped, None, "stopped on request")).unwrap_err();
        assert_eq!(failure.exit_code, 1);
        assert!(failure.message.contains("was stopped: stopped on request"));
        let failure = conclude(&job(WorkloadState::Failed, Some(300), "")).unwrap_err();
        assert_eq!(failure.exit_code, 1);
    }

    #[test]
    fn the_submitted_line_says_where_a_queued_job_waits() {
        assert_eq!(
            submitted_line(&job(WorkloadState::Running, None, "")),
            "job 0190aaaabbbbccccddddeeeeffff0000 submitted (class small)"
        );
        assert_eq!(
            submitted_line(&job(
                WorkloadState::Queued,
                None,
                "waiting for quota: running jobs: 1 of 1"
            )),
            "job 0190aaaabbbbccccddddeeeeffff0000 submitted (class small, queued: position 2 — waiting for quota: running jobs: 1 of 1)"
        );
    }

    #[test]
    fn commands_are_shown_as_a_shell_would_take_them() {
        let command: Vec<String> = ["sh", "-c", "echo 'hi' $X", "a=b"]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shell_words(&command), r"sh -c 'echo '\''hi'\'' $X' a=b");
    }

    #[test]
    fn env_flags_name_an_environment_unless_they_hold_a_variable() {
        assert_eq!(
            parse_env_flag("train:3"),
            Ok(EnvFlag::Environment("train:3".into()))
        );
        assert_eq!(
            parse_env_flag("default"),
            Ok(EnvFlag::Environment("default".into()))
        );
        assert_eq!(
            parse_env_flag("LR=0.01"),
            Ok(EnvFlag::Variable("LR".into(), "0.01".into()))
        );
        assert!(parse_env_flag("").is_err());
        assert!(parse_env_flag("=x").is_err());
    }

    #[test]
    fn env_flags_take_a_value_or_the_callers_own() {
        assert_eq!(parse_env("A=1=2"), Ok(("A".into(), "1=2".into())));
        assert_eq!(parse_env("EMPTY="), Ok(("EMPTY".into(), String::new())));
        assert!(parse_env("=x").is_err());
        let path = std::env::var("PATH").unwrap();
        assert_eq!(parse_env("PATH"), Ok(("PATH".into(), path)));
        assert!(parse_env("PLINTH_SURELY_UNSET_VARIABLE")
            .unwrap_err()
            .contains("not set here"));
    }
}
