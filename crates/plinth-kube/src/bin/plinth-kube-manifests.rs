//! Writes the manifests Plinth's Kubernetes backend generates for a representative set of
//! workloads into a directory, one JSON file each, for `scripts/lib/kube-validate.sh`.
//!
//! Usage: `plinth-kube-manifests DIR`; prints the paths written.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: plinth-kube-manifests DIR");
        return ExitCode::from(2);
    };
    match plinth_kube::samples::write_sample_manifests(std::path::Path::new(&dir)) {
        Ok(paths) => {
            for path in paths {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write the manifests: {error}");
            ExitCode::FAILURE
        }
    }
}
