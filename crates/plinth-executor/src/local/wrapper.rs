//! The `/bin/sh` wrapper every local workload runs under, and what its exit codes mean.
//!
//! The wrapper is what lets a workload outlive the server: it, not the server, records the
//! exit code (`state/<id>.exit`), applies the restart policy, joins the cgroup or sets the
//! rlimit. It leads the workload's process group, so its pid (recorded in the state file)
//! stays the same across restarts, and it ends only after the program has.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::{RestartPolicy, WorkloadStatus};

/// How many times `OnFailure` restarts a failing program before giving up.
pub(super) const MAX_RESTARTS: u32 = 5;

/// The wrapper script, run as `sh <root>/wrapper.sh ARGS… PROGRAM ARGS…` (from a file rather
/// than with `-c`, so that process listings show the workload, not the script).
///
/// Its own arguments come first, positionally, so nothing of the program's environment is
/// touched; the program and its arguments follow and are run as `"$@"`, untouched.
/// `SIGTERM` (a stop) is trapped: the wrapper lets the program, which gets the same signal
/// through the process group, end first, then ends without restarting. Program exits by a
/// signal show as `128 + N`, as in every POSIX shell. The coreutils it calls (`mv`, `sleep`,
/// `date`) are looked up in a fixed system `PATH`, whatever `PATH` the workload has.
pub(super) const WRAPPER: &str = r#"# Plinth's workload wrapper (see crates/plinth-executor/src/local/wrapper.rs).
exit_file=$1 cgroup_procs=$2 memory_kib=$3 restart=$4 delay_ms=$5 max_delay_ms=$6 max_restarts=$7
first_delay_ms=$5
shift 7
tools=/usr/local/bin:/usr/bin:/bin
stopping=
trap 'stopping=yes' TERM
finish() {
  printf '%s\n' "$1" > "$exit_file.tmp" && PATH=$tools mv -f "$exit_file.tmp" "$exit_file"
  exit "$1"
}
if [ -n "$cgroup_procs" ] && ! echo $$ > "$cgroup_procs"; then
  echo "--- plinth: cannot join the workload's cgroup ($cgroup_procs) ---"
  finish 125
fi
restarts=0
while :; do
  started=$(PATH=$tools date +%s)
  (
    if [ -n "$memory_kib" ] && ! ulimit -v "$memory_kib"; then
      echo "--- plinth: cannot limit memory to $memory_kib KiB ---"
      exit 125
    fi
    exec "$@"
  )
  code=$?
  [ -n "$stopping" ] && finish "$code"
  case $restart in
    always) ;;
    on_failure) if [ "$code" -eq 0 ] || [ "$restarts" -ge "$max_restarts" ]; then finish "$code"; fi ;;
    *) finish "$code" ;;
  esac
  ended=$(PATH=$tools date +%s)
  # A run that lasted a minute was healthy: the next restart waits the first delay again.
  if [ $(( ${ended:-0} - ${started:-0} )) -ge 60 ]; then delay_ms=$first_delay_ms; fi
  restarts=$((restarts + 1))
  echo "--- plinth: restarting (exit code $code), attempt $((restarts + 1)) ---"
  PATH=$tools sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
  [ -n "$stopping" ] && finish "$code"
  delay_ms=$((delay_ms * 2))
  if [ "$delay_ms" -gt "$max_delay_ms" ]; then delay_ms=$max_delay_ms; fi
done
"#;

/// What the wrapper does besides running the program.
#[derive(Clone, Debug)]
pub(super) struct WrapperOptions<'a> {
    /// Where the exit code goes.
    pub(super) exit_file: &'a Path,
    /// The `cgroup.procs` file to join first (cgroups v2 limits).
    pub(super) cgroup_procs: Option<&'a Path>,
    /// The address-space limit, in KiB (rlimits).
    pub(super) memory_kib: Option<u64>,
    /// The restart policy.
    pub(super) restart: RestartPolicy,
    /// The wait before the first restart; it doubles up to `max_backoff`.
    pub(super) first_backoff: Duration,
    /// The longest wait between restarts.
    pub(super) max_backoff: Duration,
}

/// Writes the wrapper script to `path` unless it is there already. A running wrapper keeps
/// the file it started from: the new one replaces it by a rename.
pub(super) fn install(path: &Path) -> std::io::Result<()> {
    if fs_err::read_to_string(path).is_ok_and(|installed| installed == WRAPPER) {
        return Ok(());
    }
    super::state::write_atomically(path, WRAPPER.as_bytes(), true)
}

/// Returns the arguments after `sh <wrapper>`: the wrapper's own, then the program and its
/// arguments.
pub(super) fn wrapper_arguments(
    options: &WrapperOptions<'_>,
    program: &Path,
    args: &[OsString],
) -> Vec<OsString> {
    let restart = match options.restart {
        RestartPolicy::Never => "never",
        RestartPolicy::OnFailure => "on_failure",
        RestartPolicy::Always => "always",
    };
    let milliseconds = |duration: Duration| duration.as_millis().max(1).to_string();
    let mut arguments: Vec<OsString> = vec![
        options.exit_file.into(),
        options.cgroup_procs.map(OsString::from).unwrap_or_default(),
        options
            .memory_kib
            .map(|kib| kib.to_string())
            .unwrap_or_default()
            .into(),
        restart.into(),
        milliseconds(options.first_backoff).into(),
        milliseconds(options.max_backoff.max(options.first_backoff)).into(),
        MAX_RESTARTS.to_string().into(),
        program.into(),
    ];
    arguments.extend(args.iter().cloned());
    arguments
}

/// Returns the status an exit code stands for.
///
/// Codes 129–192 are how a shell reports a program killed by signal `code - 128`: they give
/// `Failed { exit_code: None, reason: "killed by signal N (SIGNAME)" }`, exactly as a
/// process the server saw die of a signal does. (A program that really exits with such a
/// code reads as killed by a signal; the shell leaves no way to tell them apart.)
pub(super) fn status_from_exit_code(code: i32) -> WorkloadStatus {
    match code {
        0 => WorkloadStatus::Succeeded,
        129..=192 => WorkloadStatus::Failed {
            exit_code: None,
            reason: killed_by(code - 128),
        },
        code => WorkloadStatus::Failed {
            exit_code: Some(code),
            reason: format!("exited with code {code}"),
        },
    }
}

/// "killed by signal 9 (SIGKILL)".
pub(super) fn killed_by(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(name) => format!("killed by signal {signal} ({})", name.as_str()),
        Err(_) => format!("killed by signal {signal}"),
    }
}

/// Returns the exit code a shell would report for a process the server waited for.
pub(super) fn exit_code_of(status: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
}
