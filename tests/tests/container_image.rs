//! `packaging/Containerfile` (issue 23): `scripts/build-image.sh` builds the
//! image from Debian packages only (mmdebstrap's root file system and the
//! binaries of this build; no registry), and the image runs the log as its
//! own unprivileged user, with the data in its volume directory: the
//! checkpoint is served, an entry is appended and stays across a restart
//! of the container.
//!
//! The container is run with the runc runtime, cgroupfs and explicit
//! rlimits: what podman needs on a machine whose cgroups are in hybrid mode
//! and whose rlimits cannot be raised (this one); on a usual host the
//! plain `podman run -p 8080:8080 IMAGE` of the Containerfile's header
//! does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use integration_tests::bin;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    c
}

/// Removes the container, volume and image when the test ends, however.
struct Cleanup {
    name: String,
    tag: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "-f", &self.name]).output();
        let _ = podman().args(["volume", "rm", "-f", &self.name]).output();
        let _ = podman().args(["rmi", "-f", &self.tag]).output();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn wait_for_checkpoint(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::blocking::get(format!("{url}/checkpoint"))
            && r.status().is_success()
        {
            return r.text().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the container never served {url}/checkpoint"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_image_is_built_from_debian_packages_and_runs_the_log_unprivileged() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = bin("stateanchor-log")
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let id = std::process::id();
    let c = Cleanup {
        name: format!("stateanchor-test-{id}"),
        tag: format!("localhost/stateanchor-log-test:{id}"),
    };
    run(Command::new(repo.join("scripts/build-image.sh"))
        .args(["--debug", "--tag", &c.tag])
        .env("CARGO_TARGET_DIR", &target));
    // The image: no base image, its user, its volume, its entry point.
    let inspect = run(podman().args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Cmd}} {{.Config.Volumes}}",
        &c.tag,
    ]));
    let inspect = String::from_utf8_lossy(&inspect.stdout).into_owned();
    assert!(
        inspect.starts_with("10001:10001 [/usr/local/bin/stateanchor-log] [serve]"),
        "{inspect}"
    );
    assert!(inspect.contains("/var/lib/stateanchor"), "{inspect}");

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let start = || {
        run(podman().args([
            "run",
            "-d",
            "--name",
            &c.name,
            "--network",
            "host",
            "--ulimit",
            "nofile=4096:4096",
            "--ulimit",
            "nproc=1024:1024",
            "-v",
            &format!("{}:/var/lib/stateanchor", c.name),
            "-e",
            &format!("STATEANCHOR_LISTEN=127.0.0.1:{port}"),
            "-e",
            "STATEANCHOR_ORIGIN=container.test/log",
            &c.tag,
        ]));
    };
    start();
    let checkpoint = wait_for_checkpoint(&url);
    assert!(
        checkpoint.starts_with("container.test/log\n0\n"),
        "{checkpoint}"
    );
    // Its own user, not root; the key and data in the volume, its own.
    let exec = |args: &[&str]| {
        let out = run(podman().args(["exec", &c.name]).args(args));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(exec(&["id", "-u"]), "10001");
    let owners = exec(&[
        "stat",
        "-c",
        "%u %a %n",
        "/var/lib/stateanchor",
        "/var/lib/stateanchor/admin-api-key",
    ]);
    for line in owners.lines() {
        assert!(line.starts_with("10001 "), "{owners}");
    }
    let admin = exec(&["cat", "/var/lib/stateanchor/admin-api-key"]);
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/entries?wait=checkpoint"))
        .bearer_auth(&admin)
        .header("content-type", "application/octet-stream")
        .body("an entry written in a container")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().unwrap());

    // Stopped (SIGTERM: a clean exit) and started again on its volume: the
    // entry is still there, under the same key.
    run(podman().args(["stop", "-t", "30", &c.name]));
    let state = run(podman().args(["inspect", "--format", "{{.State.ExitCode}}", &c.name]));
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "0");
    run(podman().args(["rm", &c.name]));
    start();
    let again = wait_for_checkpoint(&url);
    assert!(again.starts_with("container.test/log\n1\n"), "{again}");
    // A signature line is `— <name> base64(key hash ‖ signature)`: its
    // first five characters are of the key hash.
    let key_of = |c: &str| {
        let sig = c
            .lines()
            .last()
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .to_owned();
        sig[..5].to_owned()
    };
    assert_eq!(
        key_of(&again),
        key_of(&checkpoint),
        "the same signing key after the restart"
    );
    // The verifier is in the image too.
    assert!(exec(&["stateanchor-verify", "--version"]).starts_with("stateanchor-verify"));
}
