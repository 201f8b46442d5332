//! The launcher itself: `plinth sandbox exec` (stage one: namespaces), `plinth sandbox
//! init` (stage two: the first process of the new PID namespace: mounts, restrictions,
//! the program) and `plinth sandbox probe`. See the module above for the whole picture.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::io::AsRawFd as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use landlock::{
    path_beneath_rules, Access, AccessFs, LandlockStatus, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getegid, geteuid, Pid};

use super::{PlanIdentity, ProbeReport, SandboxPlan, DEVICES, LAUNCH_FAILED, SYSTEM_READ_ONLY};

/// The newest Landlock ABI this launcher asks for (6: signal and abstract-socket scopes).
const LANDLOCK_ABI: ABI = ABI::V6;
/// The signals the first stage outlives (it waits for the program, which gets them
/// through its process group): its death would take the whole namespace down at once.
const OUTLIVED_SIGNALS: &[i32] = &[
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
];

/// `plinth sandbox exec --plan FILE -- PROGRAM ARGS…`: sets up the sandbox the plan
/// describes and runs the program in it; returns the exit code to end with (the
/// program's, or 128 + its signal, or [`LAUNCH_FAILED`] with a line on stderr).
pub fn exec_main(plan_file: &Path, command: &[OsString]) -> i32 {
    let plan = match SandboxPlan::read(plan_file) {
        Ok(plan) => plan,
        Err(error) => return failed(&error),
    };
    if command.is_empty() {
        return failed("no program to run");
    }
    if !plan.namespaces {
        // Nothing to wait for: restrict this process and become the program.
        if let Err(error) = restrict(&plan, None, true) {
            return failed(&error);
        }
        let error = program(&plan, command).exec();
        return failed(&format!(
            "cannot run `{}`: {error}",
            command[0].to_string_lossy()
        ));
    }
    if let Err(error) = enter_namespaces() {
        return failed(&error);
    }
    let flag = Arc::new(AtomicBool::new(false));
    for signal in OUTLIVED_SIGNALS {
        // A handler, not SIG_IGN: handlers are reset by exec, ignored signals are not.
        let _ = signal_hook::flag::register(*signal, Arc::clone(&flag));
    }
    let mut init = Command::new("/proc/self/exe");
    init.args(["sandbox", "init", "--plan"])
        .arg(plan_file)
        .arg("--")
        .args(command);
    match init.status() {
        Ok(status) => exit_code(status),
        Err(error) => failed(&format!(
            "cannot start the sandbox's first process: {error}"
        )),
    }
}

/// `plinth sandbox init --plan FILE [--probe] -- PROGRAM ARGS…`: the first process of the
/// new PID namespace. Mounts, restricts itself, starts the program and reaps every
/// process until the program ends; returns its exit code. With `probe`, tries every step,
/// prints a [`ProbeReport`] as JSON and starts nothing.
pub fn init_main(plan_file: &Path, probe: bool, command: &[OsString]) -> i32 {
    let plan = match SandboxPlan::read(plan_file) {
        Ok(plan) => plan,
        Err(error) => return failed(&error),
    };
    // Should the first stage die, so does everything in here.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if probe {
        let mut report = ProbeReport::default();
        match setup_mounts(&plan) {
            Ok(()) => report.own_proc = true,
            Err(error) => report.namespaces_error = Some(error),
        }
        let _ = nix::unistd::sethostname(&plan.hostname);
        record_restrictions(&mut report, restrict(&plan, None, false));
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        return 0;
    }
    if command.is_empty() {
        return failed("no program to run");
    }
    let log = plan
        .log_file
        .as_ref()
        .and_then(|path| PathFd::new(path).ok());
    if let Err(error) = setup_mounts(&plan) {
        return failed(&error);
    }
    if let Err(error) = nix::unistd::sethostname(&plan.hostname) {
        return failed(&format!("cannot set the host name: {error}"));
    }
    if let Err(error) = restrict(&plan, log, true) {
        return failed(&error);
    }
    let child = match program(&plan, command).spawn() {
        Ok(child) => child,
        Err(error) => {
            return failed(&format!(
                "cannot run `{}`: {error}",
                command[0].to_string_lossy()
            ))
        }
    };
    reap(Pid::from_raw(child.id() as i32))
}

/// `plinth sandbox probe --dir DIR`: finds out which mechanisms this machine allows, by
/// setting a sandbox up for nothing in `DIR`; prints a [`ProbeReport`] as JSON.
pub fn probe_main(dir: &Path) -> i32 {
    let report = probe(dir).unwrap_or_else(ProbeReport::failed);
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    0
}

fn probe(dir: &Path) -> Result<ProbeReport, String> {
    let work = dir.join("work");
    let tmp = dir.join("tmp");
    let hidden = dir.join("hidden");
    for folder in [&work, &tmp, &hidden] {
        fs_err::create_dir_all(folder).map_err(|error| error.to_string())?;
    }
    fs_err::write(hidden.join("secret"), b"probe\n").map_err(|error| error.to_string())?;
    let plan = SandboxPlan {
        identity: PlanIdentity::Launcher,
        namespaces: true,
        landlock: true,
        hostname: "plinth-probe".to_string(),
        work_dir: work,
        tmp_dir: tmp,
        log_file: None,
        read_only: SYSTEM_READ_ONLY.iter().map(PathBuf::from).collect(),
        read_write: Vec::new(),
        devices: DEVICES.iter().map(PathBuf::from).collect(),
        hide: vec![hidden],
        passwd: None,
        group: None,
    };
    let plan_file = dir.join("plan.json");
    let text = serde_json::to_string(&plan).map_err(|error| error.to_string())?;
    fs_err::write(&plan_file, text).map_err(|error| error.to_string())?;
    let root = geteuid().is_root();

    // Each try runs in a process of its own, so that the namespaces and restrictions it
    // tries stay there.
    let mut report = run_report(&["probe-stage"], &plan_file)?;
    if report.namespaces_error.is_some() {
        // Without namespaces: what the restrictions alone give.
        let alone = run_report(&["probe-restrictions"], &plan_file)?;
        report.no_new_privs = alone.no_new_privs;
        report.landlock_abi = alone.landlock_abi;
        report.landlock_note = alone.landlock_note;
    }
    report.root = root;
    report.user_namespace = !root && report.namespaces_error.is_none();
    Ok(report)
}

/// Runs `plinth sandbox STEP… --plan FILE` and reads the report it prints.
fn run_report(step: &[&str], plan_file: &Path) -> Result<ProbeReport, String> {
    let output = Command::new("/proc/self/exe")
        .arg("sandbox")
        .args(step)
        .arg("--plan")
        .arg(plan_file)
        .output()
        .map_err(|error| format!("cannot start `sandbox {}`: {error}", step.join(" ")))?;
    serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim()).map_err(|error| {
        format!(
            "`sandbox {}` answered no report ({error}): {}",
            step.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

/// `plinth sandbox probe-stage --plan FILE`: tries the namespaces and, in them, everything
/// else (through `init --probe`); prints the report.
pub fn probe_stage(plan_file: &Path) -> i32 {
    if let Err(error) = SandboxPlan::read(plan_file) {
        return failed(&error);
    }
    let report = enter_namespaces()
        .and_then(|()| run_report(&["init", "--probe"], plan_file))
        .unwrap_or_else(|error| ProbeReport {
            namespaces_error: Some(error),
            ..ProbeReport::default()
        });
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    0
}

/// `plinth sandbox probe-restrictions --plan FILE`: `no_new_privs` and Landlock alone,
/// reported as JSON.
pub fn probe_restrictions(plan_file: &Path) -> i32 {
    let mut plan = match SandboxPlan::read(plan_file) {
        Ok(plan) => plan,
        Err(error) => return failed(&error),
    };
    plan.namespaces = false;
    let mut report = ProbeReport::default();
    record_restrictions(&mut report, restrict(&plan, None, false));
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    0
}

fn record_restrictions(report: &mut ProbeReport, outcome: Result<Restricted, String>) {
    match outcome {
        Ok(restricted) => {
            report.no_new_privs = restricted.no_new_privs;
            report.landlock_abi = restricted.landlock_abi;
            report.landlock_note = restricted.landlock_note;
        }
        Err(error) => report.landlock_note = Some(error),
    }
}

fn failed(message: &str) -> i32 {
    eprintln!("--- plinth: the sandbox could not be set up: {message} ---");
    LAUNCH_FAILED
}

/// How a shell would report the end of a process: its code, or 128 + its signal.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(LAUNCH_FAILED)
}

/// Unshares the mount, PID, IPC and UTS namespaces — inside a new user namespace mapping
/// this uid and gid to root when this process is not root.
fn enter_namespaces() -> Result<(), String> {
    let flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if geteuid().is_root() {
        return unshare(flags).map_err(|error| format!("cannot create namespaces: {error}"));
    }
    let (uid, gid) = (geteuid(), getegid());
    unshare(flags | CloneFlags::CLONE_NEWUSER)
        .map_err(|error| format!("cannot create a user namespace: {error}"))?;
    let write = |file: &str, content: String| {
        fs_err::write(file, content)
            .map_err(|error| format!("cannot map the user namespace: {error}"))
    };
    write("/proc/self/setgroups", "deny".to_string())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))
}

/// The program, as the plan's user, in its working folder, with the inherited environment.
fn program(plan: &SandboxPlan, command: &[OsString]) -> Command {
    let mut program = Command::new(&command[0]);
    program.args(&command[1..]).current_dir(&plan.work_dir);
    if let PlanIdentity::User { uid, gid } = plan.identity {
        // std drops the supplementary groups, then sets the gid, then the uid.
        program.uid(uid).gid(gid);
    }
    program
}

/// Reaps every process of the namespace until `main` ends; returns how it ended.
fn reap(main: Pid) -> i32 {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == main => return code,
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == main => return 128 + signal as i32,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(error) => return failed(&format!("cannot wait for the program: {error}")),
        }
    }
}

/// The path an open file can be bound from (in this process's own `/proc`).
fn fd_path(file: &fs_err::File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

fn mount_error(what: &str, path: &Path, error: Errno) -> String {
    format!("cannot {what} `{}`: {error}", path.display())
}

/// Binds `source` on `target` (both must exist).
fn bind(source: &Path, target: &Path) -> Result<(), String> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|error| mount_error("bind a folder on", target, error))
}

/// Makes the bind mount at `path` read-only, keeping the flags it already has (a user
/// namespace may not clear `nosuid`, `nodev` or `noexec` it inherited).
fn remount_read_only(path: &Path) -> Result<(), String> {
    let current = statvfs(path).map_err(|error| mount_error("inspect", path, error))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let kept = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    for (has, keep) in kept {
        if current.flags().contains(has) {
            flags |= keep;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .map_err(|error| mount_error("make read-only", path, error))
}

/// The mount namespace's view: a fresh `/proc`; every hidden path covered; private
/// `/tmp`, `/var/tmp` and `/dev/shm`; the generated user database; and the workload's own
/// paths put back wherever a cover or the private `/tmp` hid them.
fn setup_mounts(plan: &SandboxPlan) -> Result<(), String> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|error| format!("cannot make the mounts private: {error}"))?;

    // Every source of a bind is opened first and bound through `/proc/self/fd`: a mount
    // made on the way (a cover, the private /tmp) may hide its path.
    let tmp = fs_err::File::open(&plan.tmp_dir)
        .map_err(|error| format!("cannot open the private temporary folder: {error}"))?;
    let mut user_database = Vec::new();
    for (generated, target) in [(&plan.passwd, "/etc/passwd"), (&plan.group, "/etc/group")] {
        if let Some(generated) = generated {
            let file = fs_err::File::open(generated)
                .map_err(|error| format!("cannot open the user database: {error}"))?;
            user_database.push((file, Path::new(target)));
        }
    }
    // The workload's own paths, to put back should they be hidden on the way.
    let mut own: Vec<(PathBuf, bool, fs_err::File)> = Vec::new();
    let wanted = std::iter::once((&plan.work_dir, true))
        .chain(plan.read_write.iter().map(|path| (path, true)))
        .chain(plan.read_only.iter().map(|path| (path, false)));
    // Only a cover or the private /tmp can hide a path (/proc and /dev/shm are replaced
    // on purpose).
    let may_be_hidden = |path: &Path| {
        plan.hide.iter().any(|hidden| path.starts_with(hidden))
            || path.starts_with("/tmp")
            || path.starts_with("/var/tmp")
    };
    for (path, writable) in wanted.filter(|(path, _)| may_be_hidden(path)) {
        match fs_err::File::open(path) {
            Ok(file) => own.push((path.clone(), writable, file)),
            Err(_) if !writable => {} // an optional read-only path that is not there
            Err(error) => return Err(format!("cannot open the workload's folder: {error}")),
        }
    }

    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|error| mount_error("mount a fresh", Path::new("/proc"), error))?;

    let mut covers = Vec::new();
    for hidden in plan.effective_hide() {
        let Ok(metadata) = fs_err::metadata(&hidden) else {
            continue;
        };
        if metadata.is_dir() {
            mount(
                Some("plinth-hidden"),
                &hidden,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("mode=0755,size=1m,nr_inodes=4096"),
            )
            .map_err(|error| mount_error("cover", &hidden, error))?;
            covers.push(hidden);
        } else {
            bind(Path::new("/dev/null"), &hidden)?;
            remount_read_only(&hidden)?;
        }
    }

    for target in ["/tmp", "/var/tmp"] {
        let target = Path::new(target);
        if target.is_dir() {
            bind(&fd_path(&tmp), target)?;
        }
    }
    if Path::new("/dev/shm").is_dir() {
        mount(
            Some("shm"),
            "/dev/shm",
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777"),
        )
        .map_err(|error| mount_error("mount a private", Path::new("/dev/shm"), error))?;
    }
    for (file, target) in &user_database {
        bind(&fd_path(file), target)?;
        remount_read_only(target)?;
    }

    for (path, writable, file) in &own {
        let before = file
            .metadata()
            .map_err(|error| format!("cannot inspect `{}`: {error}", path.display()))?;
        let visible = fs_err::metadata(path)
            .is_ok_and(|now| (now.dev(), now.ino()) == (before.dev(), before.ino()));
        if visible {
            continue;
        }
        let made = if before.is_dir() {
            fs_err::create_dir_all(path)
        } else {
            path.parent()
                .map_or(Ok(()), fs_err::create_dir_all)
                .and_then(|()| fs_err::File::create(path).map(drop))
        };
        made.map_err(|error| format!("cannot put back `{}`: {error}", path.display()))?;
        bind(&fd_path(file), path)?;
        if !writable {
            remount_read_only(path)?;
        }
        // The same file as before: nothing was swapped in between.
        let after = fs_err::metadata(path)
            .map_err(|error| format!("cannot inspect `{}`: {error}", path.display()))?;
        if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
            return Err(format!(
                "`{}` changed while it was put back",
                path.display()
            ));
        }
    }
    drop(own);
    for cover in covers {
        // Nothing may be added under a cover. (A cover under /tmp or /var/tmp went from
        // view with the old /tmp.)
        if cover.starts_with("/tmp") || cover.starts_with("/var/tmp") {
            continue;
        }
        mount(
            None::<&str>,
            &cover,
            None::<&str>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=0755,size=1m,nr_inodes=4096"),
        )
        .map_err(|error| mount_error("make read-only", &cover, error))?;
    }
    Ok(())
}

/// What [`restrict`] achieved.
struct Restricted {
    no_new_privs: bool,
    landlock_abi: Option<i32>,
    landlock_note: Option<String>,
}

/// Drops what the program must not have: every capability it could inherit, the
/// server-side process's dumpability, new privileges; then applies Landlock.
/// With `strict`, a plan asking for Landlock fails where the kernel enforces none of it.
fn restrict(plan: &SandboxPlan, log: Option<PathFd>, strict: bool) -> Result<Restricted, String> {
    if plan.namespaces {
        // Nothing exec'd from here may hold a capability again (for root of a user
        // namespace the bounding set is what an exec grants).
        caps::clear(None, caps::CapSet::Bounding)
            .map_err(|error| format!("cannot drop the capability bounding set: {error}"))?;
        let _ = caps::clear(None, caps::CapSet::Ambient);
        let _ = caps::clear(None, caps::CapSet::Inheritable);
    }
    // Nobody of the same uid may read this process's memory or environment.
    let _ = nix::sys::prctl::set_dumpable(false);
    nix::sys::prctl::set_no_new_privs()
        .map_err(|error| format!("cannot set no_new_privs: {error}"))?;
    if !plan.landlock {
        return Ok(Restricted {
            no_new_privs: true,
            landlock_abi: None,
            landlock_note: Some("not asked for".to_string()),
        });
    }
    let status = landlock(plan, log).map_err(|error| format!("Landlock: {error}"))?;
    let abi = match status.landlock {
        LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        } => Some(kernel_abi.unwrap_or(effective_abi as i32)),
        _ => None,
    };
    let (landlock_abi, landlock_note) = match status.ruleset {
        RulesetStatus::FullyEnforced => (abi, None),
        RulesetStatus::PartiallyEnforced => (
            abi,
            Some(format!(
                "partly enforced: the kernel offers ABI {}, the sandbox asks for {}",
                abi.unwrap_or_default(),
                LANDLOCK_ABI as i32
            )),
        ),
        RulesetStatus::NotEnforced => {
            let note = match status.landlock {
                LandlockStatus::NotEnabled => "Landlock is not enabled in this kernel (lsm=)",
                LandlockStatus::NotImplemented => "this kernel has no Landlock (Linux ≥ 5.13)",
                LandlockStatus::Available { .. } => "the kernel enforces none of the rules",
            };
            (None, Some(note.to_string()))
        }
    };
    if strict && landlock_abi.is_none() {
        return Err(format!(
            "Landlock is required but not enforced: {}",
            landlock_note.unwrap_or_default()
        ));
    }
    Ok(Restricted {
        no_new_privs: status.no_new_privs,
        landlock_abi,
        landlock_note,
    })
}

fn landlock(
    plan: &SandboxPlan,
    log: Option<PathFd>,
) -> Result<landlock::RestrictionStatus, landlock::RulesetError> {
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let file_read_write = AccessFs::from_file(LANDLOCK_ABI);
    let mut read_write: Vec<PathBuf> = vec![plan.work_dir.clone()];
    read_write.extend(plan.read_write.iter().cloned());
    if plan.namespaces {
        // The private folders, by the paths they are mounted on.
        read_write.extend(["/tmp", "/var/tmp", "/dev/shm"].map(PathBuf::from));
    } else {
        read_write.push(plan.tmp_dir.clone());
    }
    let mut ruleset = Ruleset::default()
        .handle_access(all)?
        .scope(Scope::Signal | Scope::AbstractUnixSocket)?
        .create()?
        .add_rules(path_beneath_rules(&plan.read_only, read))?
        .add_rules(path_beneath_rules(&read_write, all))?
        .add_rules(path_beneath_rules(&plan.devices, file_read_write))?;
    if let Some(log) = log {
        ruleset = ruleset.add_rule(PathBeneath::new(log, file_read_write))?;
    } else if let Some(path) = &plan.log_file {
        ruleset = ruleset.add_rules(path_beneath_rules([path], file_read_write))?;
    }
    ruleset.restrict_self()
}
