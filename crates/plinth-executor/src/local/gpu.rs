//! NVIDIA GPUs on this machine: detection, and handing whole GPUs to workloads.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Gpu;

/// How long `nvidia-smi` may take before it is given up on (a wedged driver hangs it).
const NVIDIA_SMI_TIMEOUT: Duration = Duration::from_secs(10);
/// The driver's per-GPU folders, named by PCI bus id.
const PROC_GPUS: &str = "/proc/driver/nvidia/gpus";

/// Detects the machine's NVIDIA GPUs: `nvidia-smi` when it is installed, else the driver's
/// `/proc` files; none when neither answers.
pub(super) fn detect() -> Vec<Gpu> {
    let path = std::env::var("PATH").unwrap_or_default();
    let nvidia_smi = path
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join("nvidia-smi"))
        .find(|candidate| candidate.is_file());
    if let Some(program) = nvidia_smi {
        match run_nvidia_smi(&program) {
            Ok(output) => return parse_nvidia_smi(&output),
            Err(error) => {
                tracing::warn!(%error, "nvidia-smi failed; looking for GPUs in {PROC_GPUS}");
            }
        }
    }
    let Ok(entries) = fs_err::read_dir(PROC_GPUS) else {
        return Vec::new();
    };
    let devices = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let information = fs_err::read_to_string(entry.path().join("information")).ok()?;
            Some((
                entry.file_name().to_string_lossy().into_owned(),
                information,
            ))
        })
        .collect();
    parse_proc_gpus(devices)
}

fn run_nvidia_smi(program: &Path) -> std::io::Result<String> {
    let mut child = std::process::Command::new(program)
        .args(["--query-gpu=index,name", "--format=csv,noheader"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + NVIDIA_SMI_TIMEOUT;
    loop {
        // The output is a line per GPU, far less than a pipe holds, so waiting first
        // cannot dead-lock.
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "nvidia-smi did not answer within 10 s",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "nvidia-smi failed ({})",
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Parses `nvidia-smi --query-gpu=index,name --format=csv,noheader`: `0, NVIDIA A100-…`.
pub(super) fn parse_nvidia_smi(output: &str) -> Vec<Gpu> {
    let mut gpus: Vec<Gpu> = output
        .lines()
        .filter_map(|line| {
            let (index, name) = line.split_once(',')?;
            Some(Gpu {
                index: index.trim().parse().ok()?,
                name: name.trim().to_string(),
            })
        })
        .collect();
    gpus.sort_by_key(|gpu| gpu.index);
    gpus
}

/// Builds the GPU list from the driver's `/proc/driver/nvidia/gpus/<bus id>/information`
/// files. Indices follow PCI bus order, as `nvidia-smi`'s do and as CUDA's do with
/// `CUDA_DEVICE_ORDER=PCI_BUS_ID` (which the executor sets).
pub(super) fn parse_proc_gpus(mut devices: Vec<(String, String)>) -> Vec<Gpu> {
    devices.sort();
    devices
        .into_iter()
        .zip(0u32..)
        .map(|((bus_id, information), index)| {
            let name = information
                .lines()
                .find_map(|line| line.strip_prefix("Model:"))
                .map(|model| model.trim().to_string())
                .unwrap_or_else(|| format!("NVIDIA GPU at {bus_id}"));
            Gpu { index, name }
        })
        .collect()
}

/// Picks `wanted` GPUs among those not `in_use`, or says why it cannot.
pub(super) fn allocate(
    gpus: &[Gpu],
    in_use: &BTreeSet<u32>,
    wanted: u32,
) -> Result<Vec<u32>, String> {
    let plural = |count: usize| if count == 1 { "GPU" } else { "GPUs" };
    if gpus.is_empty() {
        return Err(format!(
            "this machine has no GPUs; the workload's class asks for {wanted}"
        ));
    }
    let wanted_count = usize::try_from(wanted).unwrap_or(usize::MAX);
    if wanted_count > gpus.len() {
        return Err(format!(
            "the workload's class asks for {wanted} {} but this machine has only {}",
            plural(wanted_count),
            gpus.len()
        ));
    }
    let free: Vec<u32> = gpus
        .iter()
        .map(|gpu| gpu.index)
        .filter(|index| !in_use.contains(index))
        .collect();
    if free.len() < wanted_count {
        let busy = gpus.len() - free.len();
        return Err(format!(
            "the workload's class asks for {wanted} {} but {busy} of this machine's {} {} in use by other workloads ({} free)",
            plural(wanted_count),
            gpus.len(),
            if busy == 1 { "is" } else { "are" },
            free.len()
        ));
    }
    Ok(free.into_iter().take(wanted_count).collect())
}
