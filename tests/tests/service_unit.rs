//! `packaging/stateanchor-log.service`, the systemd unit: its exposure as
//! `systemd-analyze security` rates it, and the real server run the way the
//! unit runs it, as far as a machine without systemd as PID 1 allows.
//!
//! This machine's PID 1 is not systemd, so the unit itself cannot be
//! started here. What is checked instead, on the real binary:
//! - the unit rates 2.0 ("OK") or lower (`systemd-analyze security
//!   --offline`);
//! - the server, started with the unit's environment as an unprivileged
//!   user with no capabilities and `no_new_privs` (`setpriv`), serves a
//!   workload (appends, checkpoints, proofs, the proof page, tiles,
//!   metrics) and stops cleanly on SIGTERM;
//! - every system call it made (traced with `strace -f`) is one the unit's
//!   `SystemCallFilter=` allows, every socket it opened is of a family
//!   `RestrictAddressFamilies=` allows, and every file it created or wrote
//!   is under its state directory or its private /tmp
//!   (`ProtectSystem=strict`, `PrivateTmp=`), created without group or
//!   world permissions (`UMask=0077`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{bin, spawn_until_listening};

/// The unprivileged user and group the server runs as (DynamicUser stands
/// for "a user of its own"; `nobody` is the closest on a machine without
/// systemd).
const NOBODY: u32 = 65_534;

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/stateanchor-log.service")
}

fn unit_lines(key: &str) -> Vec<String> {
    std::fs::read_to_string(unit_path())
        .expect("read the unit")
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
        .collect()
}

fn systemd_analyze(args: &[&str]) -> String {
    let out = Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze: {e} (Debian's `systemd` package; scripts/prereqs.sh installs it)")
        });
    assert!(
        out.status.success(),
        "systemd-analyze {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_unit_rates_ok_in_systemd_analyze_security() {
    let unit = unit_path();
    let report = systemd_analyze(&["security", "--offline=yes", unit.to_str().unwrap()]);
    let level: f64 = report
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for stateanchor-log.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{report}"));
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{report}");
}

/// The system calls a `SystemCallFilter=` group stands for, nested groups
/// expanded, as this machine's systemd defines them.
fn syscall_group(name: &str, out: &mut BTreeSet<String>) {
    let listing = systemd_analyze(&["syscall-filter", name]);
    for entry in listing.lines().skip(1) {
        let entry = entry.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        if entry.starts_with('@') {
            syscall_group(entry, out);
        } else {
            out.insert(entry.to_owned());
        }
    }
}

/// The system calls the unit allows: its allow-list minus its deny-list.
fn allowed_syscalls() -> BTreeSet<String> {
    let (mut allowed, mut denied) = (BTreeSet::new(), BTreeSet::new());
    for line in unit_lines("SystemCallFilter") {
        let (deny, list) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line.as_str()),
        };
        for item in list.split_whitespace() {
            let set = if deny { &mut denied } else { &mut allowed };
            if item.starts_with('@') {
                syscall_group(item, set);
            } else {
                set.insert(item.to_owned());
            }
        }
    }
    assert!(!allowed.is_empty(), "the unit has no SystemCallFilter allow-list");
    allowed.difference(&denied).cloned().collect()
}

#[test]
fn the_server_serves_within_the_units_restrictions() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = tmp.path().join("state");
    let private_tmp = tmp.path().join("tmp");
    let trace = tmp.path().join("trace");
    for d in [&state, &private_tmp, &trace] {
        std::fs::create_dir(d).unwrap();
        std::os::unix::fs::chown(d, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let trace_file = trace.join("strace.out");
    // Installed as the unit expects it (readable by the service's user; the
    // build directory under /root is not).
    let installed = tmp.path().join("stateanchor-log");
    std::fs::copy(bin("stateanchor-log"), &installed).unwrap();
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();

    // The unit's user (no capabilities, no_new_privs), UMask= and
    // environment, with the state directory and a free port.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "umask 077 && exec \"$@\"",
        "sh",
        "setpriv",
        "--no-new-privs",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--clear-groups",
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--",
        "strace",
        "-f",
        "-qq",
        "-o",
    ])
    .arg(&trace_file)
    .arg("--")
    .arg(&installed)
    .arg("serve")
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("TMPDIR", &private_tmp);
    for e in unit_lines("Environment") {
        let (k, v) = e.split_once('=').unwrap();
        cmd.env(k, v);
    }
    cmd.env("STATEANCHOR_DATA_DIR", &state)
        .env("STATEANCHOR_LISTEN", "127.0.0.1:0")
        .env("STATEANCHOR_ORIGIN", "unit.example/log")
        .env("STATEANCHOR_CHECKPOINT_INTERVAL", "100ms");
    let (mut child, printed) = spawn_until_listening(&mut cmd);
    let url = printed
        .iter()
        .find(|(k, _)| k == "listening")
        .map(|(_, v)| v.trim_end_matches('/').to_owned())
        .unwrap();

    // A workload that touches every part of the log.
    let admin_key = std::fs::read_to_string(state.join("admin-api-key")).unwrap();
    let http = reqwest::blocking::Client::new();
    for i in 0..40 {
        let resp = http
            .post(format!("{url}/v1/entries?wait=checkpoint"))
            .bearer_auth(admin_key.trim())
            .header("content-type", "application/octet-stream")
            .body(format!("entry {i}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201, "append {i}");
    }
    for path in [
        "/checkpoint",
        "/v1/log",
        "/v1/proof/inclusion?index=3&tree_size=40",
        "/v1/proof/consistency?first=5&second=40",
        "/v1/entries/7",
        "/entries/7",
        "/v1/entries/7/proof.tlog-proof",
        "/tile/0/000.p/40",
        "/tile/entries/000.p/40",
        "/healthz",
        "/metrics",
    ] {
        let resp = http.get(format!("{url}{path}")).send().unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    }
    // SIGTERM to the server (strace's child; strace itself does not pass
    // signals on), as systemd's KillSignal= would; strace exits with the
    // server's status.
    let server = Command::new("pgrep")
        .args(["-P", &child.id().to_string()])
        .output()
        .unwrap();
    let server = String::from_utf8(server.stdout).unwrap().trim().to_owned();
    assert!(!server.is_empty(), "no server process under strace");
    let status = Command::new("kill").args(["-TERM", &server]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "the server did not stop cleanly: {exit:?}");

    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let allowed = allowed_syscalls();
    let mut used = BTreeSet::new();
    let mut families = BTreeSet::new();
    let mut written = BTreeSet::new();
    for line in trace.lines() {
        // `<pid>  name(args) = result`; resumed calls were counted at their start.
        let Some((_, call)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let call = call.trim_start();
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        used.insert(name.to_owned());
        if name == "socket" {
            families.insert(args.split(',').next().unwrap_or_default().to_owned());
        }
        let writes = matches!(
            name,
            "mkdir" | "mkdirat" | "rename" | "renameat" | "renameat2" | "unlink" | "unlinkat"
                | "rmdir" | "link" | "linkat" | "symlink" | "symlinkat" | "truncate"
        ) || ((name == "openat" || name == "open")
            && ["O_WRONLY", "O_RDWR", "O_CREAT"].iter().any(|f| args.contains(f)));
        if writes {
            if let Some(path) = args.split('"').nth(1) {
                written.insert(path.to_owned());
            }
        }
    }
    assert!(used.contains("execve") && used.len() > 20, "strace saw too little:\n{trace}");
    let refused: Vec<_> = used.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "system calls the unit's SystemCallFilter refuses (EPERM): {refused:?}"
    );
    let allowed_families: Vec<String> = unit_lines("RestrictAddressFamilies")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    for f in &families {
        assert!(
            allowed_families.contains(f),
            "a socket of family {f}, which RestrictAddressFamilies refuses"
        );
    }
    for path in &written {
        let p = Path::new(path);
        assert!(
            p.starts_with(&state)
                || p.starts_with(&private_tmp)
                || path == "/dev/null"
                // Its own threads' names (RocksDB names its threads);
                // ProtectSystem= and ProtectKernelTunables= leave these.
                || (path.starts_with("/proc/self/task/") && path.ends_with("/comm")),
            "wrote outside its state directory and private /tmp: {path}"
        );
    }
    // UMask=0077: nothing it created is readable by others.
    let mut stack = vec![state.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            assert_eq!(meta.uid(), NOBODY, "{} is not the service user's", e.path().display());
            assert_eq!(
                meta.mode() & 0o077,
                0,
                "{} is readable by others: {:o}",
                e.path().display(),
                meta.mode()
            );
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
}

