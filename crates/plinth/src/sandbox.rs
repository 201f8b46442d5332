//! `plinth sandbox`: what the workload sandbox can do on this machine (`check`), and the
//! launcher the local executor runs every workload through (`exec`, `init`, and the
//! probe's own steps; hidden: they are not for people). They run before any async runtime
//! exists: a process that unshares a user namespace must be single-threaded.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use plinth_executor::sandbox;

/// The workload sandbox.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Show which sandbox mechanisms this machine and this user allow for workloads.
    ///
    /// The same probe `plinth serve` runs at start; run it as the user the server runs
    /// as. Exits 0 when workloads can be fully sandboxed, 1 otherwise.
    Check {
        /// Print the probe's report as JSON.
        #[arg(long)]
        json: bool,
        /// The first uid of the range projects' users come from (shown in the report).
        #[arg(long, default_value_t = 1_500_000_000)]
        first_uid: u32,
    },
    /// Run a program in the sandbox a plan describes (the local executor does this).
    #[command(hide = true)]
    Exec {
        #[arg(long)]
        plan: PathBuf,
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// The first process of a workload's PID namespace.
    #[command(hide = true)]
    Init {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long)]
        probe: bool,
        #[arg(last = true)]
        command: Vec<OsString>,
    },
    /// Probe what the sandbox can do, in a scratch folder; print JSON.
    #[command(hide = true)]
    Probe {
        #[arg(long)]
        dir: PathBuf,
    },
    #[command(hide = true)]
    ProbeStage {
        #[arg(long)]
        plan: PathBuf,
    },
    #[command(hide = true)]
    ProbeRestrictions {
        #[arg(long)]
        plan: PathBuf,
    },
}

/// Runs the command and returns the process's exit code.
pub fn run(args: SandboxArgs) -> i32 {
    match args.command {
        SandboxCommand::Exec { plan, command } => sandbox::exec_main(&plan, &command),
        SandboxCommand::Init {
            plan,
            probe,
            command,
        } => sandbox::init_main(&plan, probe, &command),
        SandboxCommand::Probe { dir } => sandbox::probe_main(&dir),
        SandboxCommand::ProbeStage { plan } => sandbox::probe_stage(&plan),
        SandboxCommand::ProbeRestrictions { plan } => sandbox::probe_restrictions(&plan),
        SandboxCommand::Check { json, first_uid } => check(json, first_uid),
    }
}

fn check(json: bool, first_uid: u32) -> i32 {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: cannot make a scratch folder: {error}");
            return 1;
        }
    };
    let output = std::process::Command::new("/proc/self/exe")
        .args(["sandbox", "probe", "--dir"])
        .arg(dir.path().join("probe"))
        .output();
    let report: sandbox::ProbeReport = match output {
        Ok(output) => serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            sandbox::ProbeReport::failed(format!("the probe answered no report: {error}"))
        }),
        Err(error) => sandbox::ProbeReport::failed(format!("cannot run the probe: {error}")),
    };
    let isolation = report.isolation((first_uid, 100_000));
    if json {
        let document = serde_json::json!({ "report": report, "isolation": isolation });
        println!("{document:#}");
    } else {
        println!("{}", isolation.summary);
        for mechanism in &isolation.mechanisms {
            let mark = if mechanism.active { "yes" } else { "NO " };
            println!("  {mark}  {:<11} {}", mechanism.name, mechanism.detail);
        }
    }
    if isolation.level == plinth_executor::IsolationLevel::Full {
        0
    } else {
        1
    }
}
