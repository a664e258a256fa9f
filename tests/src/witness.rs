//! A running `stateanchor-log witness serve`, for the witness tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::{bin, spawn_until_listening};

/// A running `stateanchor-log witness serve` on 127.0.0.1, with its data
/// directory. Killed (SIGKILL) when dropped.
pub struct WitnessServer {
    /// The child process.
    pub child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The witness's verifier key (cosignature/v1), as printed at start-up.
    pub verifier_key: String,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// Runs `stateanchor-log witness key generate --name <name>` in `data_dir`;
/// returns the verifier key it prints.
///
/// # Panics
/// If the command fails.
#[must_use]
pub fn generate_witness_key(data_dir: &Path, name: &str) -> String {
    let out = Command::new(bin("stateanchor-log"))
        .args(["witness", "key", "generate", "--name", name, "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run witness key generate");
    assert!(
        out.status.success(),
        "witness key generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

impl WitnessServer {
    /// Starts `witness serve` on `data_dir` (which holds its key) for the
    /// logs listed in `logs`, on a free port, with `extra_args`.
    ///
    /// # Panics
    /// If it does not start.
    #[must_use]
    pub fn start_in(data_dir: &Path, logs: &Path, extra_args: &[&str]) -> Self {
        let mut cmd = Command::new(bin("stateanchor-log"));
        cmd.args(["witness", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--logs")
            .arg(logs)
            .args(extra_args);
        let (child, printed) = spawn_until_listening(&mut cmd);
        let line = |k: &str| {
            printed
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("the witness printed no {k:?} line"))
        };
        WitnessServer {
            child,
            url: line("listening").trim_end_matches('/').to_owned(),
            verifier_key: line("witness key"),
            data_dir: data_dir.to_owned(),
        }
    }

    /// Stops the witness with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
