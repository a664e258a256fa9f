//! `stateanchor-verify` against Tessera's testdata log (a log written by
//! another implementation), read as a directory and served over HTTP by a
//! static file server: everything verifies as it is, and every tampering is
//! detected with exit 1 and an evidence file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod verify_support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use verify_support::*;

const ROOT_15: &str = "rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=";

/// The log as a directory and as a URL.
/// `stateanchor-verify <command> --key <Tessera's key> --log <log> <args>` in `dir`.
fn tessera(dir: &Path, command: &str, log: &str, args: &[&str]) -> Run {
    let mut all = vec![command, "--key", TESSERA_KEY, "--log", log];
    all.extend_from_slice(args);
    verify_in(dir, &all)
}

fn both(dir: &Path, server: &TestServer) -> [String; 2] {
    [dir.display().to_string(), server.url.clone()]
}

#[test]
fn checkpoint_from_file_url_and_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tessera_dir();
    let server = TestServer::files(&dir);
    let file = dir.join("checkpoint").display().to_string();
    let url = format!("{}/checkpoint", server.url);
    for input in [file.as_str(), url.as_str()] {
        let run = verify_in(tmp.path(), &["checkpoint", "--key", TESSERA_KEY, input]);
        expect_code(&run, 0, input);
        assert!(run.stdout.contains("tree size: 15"), "{}", run.stdout);
        assert!(run.stdout.contains(ROOT_15));
        let run = verify_in(
            tmp.path(),
            &["--json", "checkpoint", "--key", TESSERA_KEY, input],
        );
        expect_code(&run, 0, input);
        let v = run.json();
        assert_eq!(v["status"], "verified");
        assert_eq!(v["origin"], "example.com/log/testdata");
        assert_eq!(v["tree_size"], 15);
        assert_eq!(v["root_hash"], ROOT_15);
    }
    // stdin, and the key from a file.
    let key_file = tmp.path().join("log.vkey");
    std::fs::write(&key_file, format!("{TESSERA_KEY}\n")).unwrap();
    let mut child = Command::new(integration_tests::bin("stateanchor-verify"))
        .args(["checkpoint", "--key-file", key_file.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(dir.join("checkpoint.7")).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tree size: 7"));
}

#[test]
fn audit_directory_and_http() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tessera_dir();
    let server = TestServer::files(&dir);
    for log in both(&dir, &server) {
        let run = verify_in(
            tmp.path(),
            &["--json", "audit", "--key", TESSERA_KEY, "--log", &log],
        );
        expect_code(&run, 0, &log);
        let v = run.json();
        assert_eq!(v["entries_verified"], 15);
        assert_eq!(v["checkpoint"]["root_hash"], ROOT_15);
    }
}

#[test]
fn inclusion_of_every_entry_from_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tessera_dir();
    let server = TestServer::files(&dir);
    for log in both(&dir, &server) {
        for (i, entry) in TESSERA_ENTRIES.iter().enumerate() {
            let idx = i.to_string();
            let run = tessera(tmp.path(), "inclusion", &log, &["--index", &idx, "--json"]);
            expect_code(&run, 0, &format!("{log} index {i}"));
            let v = run.json();
            assert_eq!(
                v["proof_source"], "tiles",
                "no /v1 API: proofs come from tiles"
            );
            let leaf = tlog::leaf_hash(entry.as_bytes()).to_base64();
            assert_eq!(v["leaf_hash"], leaf);
            // By leaf hash and by entry file: found by a search of the bundles.
            let run = tessera(
                tmp.path(),
                "inclusion",
                &log,
                &["--leaf-hash", &leaf, "--json"],
            );
            expect_code(&run, 0, "by leaf hash");
            assert_eq!(run.json()["leaf_index"], i);
        }
        let entry = tmp.path().join("entry");
        std::fs::write(&entry, "threeten").unwrap();
        let run = tessera(
            tmp.path(),
            "inclusion",
            &log,
            &["--entry-file", entry.to_str().unwrap()],
        );
        expect_code(&run, 0, "entry file");
        assert!(run.stdout.contains("leaf 12 is included"), "{}", run.stdout);
        assert!(run.stdout.contains("built here from the log's tiles"));
        // An entry that is not in the log: verification fails.
        std::fs::write(&entry, "sixteen").unwrap();
        let run = tessera(
            tmp.path(),
            "inclusion",
            &log,
            &["--entry-file", entry.to_str().unwrap()],
        );
        expect_code(&run, 1, "absent entry");
        // An index beyond the checkpoint.
        let run = tessera(tmp.path(), "inclusion", &log, &["--index", "15"]);
        expect_code(&run, 1, "index beyond the tree");
    }
}

#[test]
fn consistency_from_every_published_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tessera_dir();
    let server = TestServer::files(&dir);
    for log in both(&dir, &server) {
        for m in 0..=15 {
            let old = dir.join(format!("checkpoint.{m}"));
            let run = tessera(
                tmp.path(),
                "consistency",
                &log,
                &["--old", old.to_str().unwrap(), "--json"],
            );
            expect_code(&run, 0, &format!("{log} from {m}"));
            let v = run.json();
            assert_eq!(v["new"]["tree_size"], 15);
            assert_eq!(v["old"]["tree_size"], m);
            for n in m..=15 {
                let new = dir.join(format!("checkpoint.{n}"));
                let run = tessera(
                    tmp.path(),
                    "consistency",
                    &log,
                    &[
                        "--old",
                        old.to_str().unwrap(),
                        "--new",
                        new.to_str().unwrap(),
                    ],
                );
                expect_code(&run, 0, &format!("{log} from {m} to {n}"));
            }
        }
        // Rolled back: the "newer" checkpoint is smaller.
        let run = tessera(
            tmp.path(),
            "consistency",
            &log,
            &[
                "--old",
                dir.join("checkpoint.9").to_str().unwrap(),
                "--new",
                dir.join("checkpoint.4").to_str().unwrap(),
            ],
        );
        expect_code(&run, 1, "rollback");
        let ev = run.evidence();
        assert_eq!(ev["check"], "rollback");
        assert_eq!(ev["checkpoints"].as_array().unwrap().len(), 2);
    }
}

/// Runs `audit` on a tampered copy, as a directory and over HTTP; both must fail with exit 1.
fn assert_audit_fails(tampered: &Path, evidence: &Path, check: &str) {
    let server = TestServer::files(tampered);
    for log in both(tampered, &server) {
        let run = verify_in(evidence, &["audit", "--key", TESSERA_KEY, "--log", &log]);
        expect_code(&run, 1, &format!("audit of {log} after tampering"));
        assert!(run.stderr.contains("verification failed"), "{}", run.stderr);
        let ev = run.evidence();
        assert_eq!(ev["check"], check, "{ev}");
        assert_eq!(ev["format"], "stateanchor-evidence/v1");
        assert!(!ev["checkpoints"].as_array().unwrap().is_empty(), "{ev}");
    }
}

#[test]
fn every_flipped_byte_in_the_tile_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let tile = "tile/0/000.p/15";
    for pos in [0isize, 31, 32 * 7 + 5, -1] {
        let copy = tmp.path().join(format!("tile-{pos}"));
        copy_dir(&tessera_dir(), &copy);
        flip_byte(&copy.join(tile), pos);
        assert_audit_fails(&copy, tmp.path(), "tile");
        let ev_dir = tmp.path();
        let run = tessera(ev_dir, "audit", copy.to_str().unwrap(), &[]);
        let ev = run.evidence();
        let data = ev["data"].as_array().unwrap();
        assert!(
            data.iter().any(|d| d["role"] == "tile"),
            "the offending tile is kept: {ev}"
        );
    }
}

#[test]
fn a_flipped_byte_in_an_entry_bundle_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    // Byte 2 is the first entry's first byte; the last byte is the last entry's.
    for pos in [2isize, 13, -1] {
        let copy = tmp.path().join(format!("bundle-{pos}"));
        copy_dir(&tessera_dir(), &copy);
        flip_byte(&copy.join("tile/entries/000.p/15"), pos);
        assert_audit_fails(&copy, tmp.path(), "tile");
    }
    // A flipped length prefix makes the bundle malformed.
    let copy = tmp.path().join("bundle-len");
    copy_dir(&tessera_dir(), &copy);
    flip_byte(&copy.join("tile/entries/000.p/15"), 1);
    assert_audit_fails(&copy, tmp.path(), "bundle");
}

#[test]
fn flipped_bytes_in_the_checkpoint_body_and_signature_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let len = std::fs::read(tessera_dir().join("checkpoint"))
        .unwrap()
        .len() as isize;
    // Origin, size, root hash; then inside the signature's base64.
    for pos in [0isize, 26, 30, len - 20, len - 2] {
        let copy = tmp.path().join(format!("cp-{pos}"));
        copy_dir(&tessera_dir(), &copy);
        flip_byte(&copy.join("checkpoint"), pos);
        let run = verify_in(
            tmp.path(),
            &[
                "checkpoint",
                "--key",
                TESSERA_KEY,
                copy.join("checkpoint").to_str().unwrap(),
            ],
        );
        expect_code(&run, 1, &format!("checkpoint with byte {pos} flipped"));
        assert_eq!(run.evidence()["check"], "checkpoint");
        assert_audit_fails(&copy, tmp.path(), "checkpoint");
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    // Same origin and body, another key.
    let body = std::fs::read_to_string(tessera_dir().join("checkpoint")).unwrap();
    let text = body.split("\n\n").next().unwrap();
    let other = tlog::SignerKey::from_seed("example.com/log/testdata", &[9; 32]).unwrap();
    let cp = tlog::Checkpoint::from_body(&format!("{text}\n")).unwrap();
    let note = cp.sign(&other).unwrap();
    let copy = tmp.path().join("other-key");
    copy_dir(&tessera_dir(), &copy);
    std::fs::write(copy.join("checkpoint"), note.to_bytes()).unwrap();
    let run = verify_in(
        tmp.path(),
        &[
            "checkpoint",
            "--key",
            TESSERA_KEY,
            copy.join("checkpoint").to_str().unwrap(),
        ],
    );
    expect_code(&run, 1, "other key");
    assert!(
        run.stderr.contains("no verified signature"),
        "{}",
        run.stderr
    );
    assert_audit_fails(&copy, tmp.path(), "checkpoint");
    // And the right key for the other log does verify it.
    let run = verify_in(
        tmp.path(),
        &[
            "checkpoint",
            "--key",
            &other.verifier_key().to_text(),
            copy.join("checkpoint").to_str().unwrap(),
        ],
    );
    expect_code(&run, 0, "the other key");
}

#[test]
fn missing_tiles_and_bundles_fail_closed() {
    let tmp = tempfile::tempdir().unwrap();
    for victim in ["tile/0/000.p/15", "tile/entries/000.p/15"] {
        let copy = tmp.path().join(victim.replace('/', "_"));
        copy_dir(&tessera_dir(), &copy);
        std::fs::remove_file(copy.join(victim)).unwrap();
        assert_audit_fails(&copy, tmp.path(), "missing");
    }
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tessera_dir();
    let cp = dir.join("checkpoint").display().to_string();
    let log = dir.display().to_string();
    let not_a_checkpoint = tmp.path().join("page.html");
    std::fs::write(&not_a_checkpoint, "<html>hello</html>\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["checkpoint", "--key", "nonsense", &cp],
            "not a valid verifier key",
        ),
        (
            vec![
                "checkpoint",
                "--key",
                "example.com/log/testdata+33d7b497+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",
                &cp,
            ],
            "not a valid verifier key",
        ),
        (
            vec![
                "checkpoint",
                "--key",
                "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkk",
                &cp,
            ],
            "not a valid verifier key",
        ),
        (
            vec![
                "checkpoint",
                "--key",
                "PRIVATE+KEY+example.com/log+00000000+AQ==",
                &cp,
            ],
            "private signing key",
        ),
        (
            vec!["checkpoint", "--key-file", "/nonexistent/key", &cp],
            "reading --key-file",
        ),
        (
            vec![
                "checkpoint",
                "--key",
                TESSERA_KEY,
                "/nonexistent/checkpoint",
            ],
            "no such file",
        ),
        (
            vec![
                "checkpoint",
                "--key",
                TESSERA_KEY,
                not_a_checkpoint.to_str().unwrap(),
            ],
            "is not a signed checkpoint",
        ),
        (
            vec![
                "checkpoint",
                "--key",
                TESSERA_KEY,
                "ftp://example.com/checkpoint",
            ],
            "only http:// and https://",
        ),
        (
            vec![
                "checkpoint",
                "--key",
                TESSERA_KEY,
                "http://exa mple.com/checkpoint",
            ],
            "not a valid URL",
        ),
        (
            vec!["audit", "--key", TESSERA_KEY, "--log", "/nonexistent/log"],
            "neither an http(s) URL nor a directory",
        ),
        (
            vec!["audit", "--key", TESSERA_KEY, "--log", "http://127.0.0.1:1"],
            "Connection refused",
        ),
        (
            vec!["audit", "--key", TESSERA_KEY, "--log", "https://"],
            "not a valid URL",
        ),
        (
            vec!["audit", "--key", TESSERA_KEY, "--log", "/"],
            "has no checkpoint",
        ),
        (
            vec![
                "inclusion",
                "--key",
                TESSERA_KEY,
                "--log",
                &log,
                "--leaf-hash",
                "AAAA",
            ],
            "is not a hash",
        ),
        (
            vec!["inclusion", "--key", TESSERA_KEY, "--log", &log],
            "required",
        ),
        (
            vec![
                "inclusion",
                "--key",
                TESSERA_KEY,
                "--log",
                &log,
                "--leaf-hash",
                "x",
                "--entry-file",
                "y",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "consistency",
                "--key",
                TESSERA_KEY,
                "--log",
                &log,
                "--proof-source",
                "api",
                "--old",
                &cp,
            ],
            "a directory has no proof API",
        ),
        (
            vec!["checkpoint", "--key", TESSERA_KEY, "--key-file", "x", &cp],
            "cannot be used with",
        ),
        (vec!["audit", "--log", &log], "required"),
        (vec!["no-such-command"], "unrecognized subcommand"),
        (
            vec![
                "monitor",
                "--key",
                TESSERA_KEY,
                "--log",
                &log,
                "--state",
                "s",
                "--interval",
                "soon",
            ],
            "not a duration",
        ),
        (
            vec![
                "published",
                "--key",
                TESSERA_KEY,
                "--log",
                &log,
                "--repo",
                "svn:x",
            ],
            "not a publication repository",
        ),
        (
            vec![
                "published",
                "--key",
                TESSERA_KEY,
                "--log",
                &log,
                "--repo",
                "github:owner",
            ],
            "not a GitHub OWNER/NAME",
        ),
        (
            vec![
                "published",
                "--key",
                TESSERA_KEY,
                "--log",
                &log,
                "--repo",
                "dir:/nonexistent",
            ],
            "not a directory",
        ),
    ];
    for (args, want) in cases {
        let run = verify_in(tmp.path(), &args);
        expect_code(&run, 2, &format!("{args:?}"));
        assert!(
            run.stderr.contains(want),
            "{args:?}: want {want:?} in stderr:\n{}",
            run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "{args:?}: nothing on stdout: {}",
            run.stdout
        );
    }
    // Errors name the tool and give hints.
    let run = verify_in(tmp.path(), &["checkpoint", "--key", "nonsense", &cp]);
    assert!(
        run.stderr.starts_with("stateanchor-verify: error: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stateanchor-verify: hint: "),
        "{}",
        run.stderr
    );
    // --json errors are JSON too.
    let run = verify_in(
        tmp.path(),
        &["--json", "checkpoint", "--key", "nonsense", &cp],
    );
    expect_code(&run, 2, "json error");
    assert_eq!(run.json()["status"], "error");
    // No evidence file for errors: nothing was decided.
    assert!(std::fs::read_dir(tmp.path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("stateanchor-evidence")
    }));
}

#[test]
fn untrusted_text_from_the_log_is_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::files(&tessera_dir());
    server.set_override("/checkpoint", 500, b"\x1b]0;pwned\x07\x1b[2J{evil}");
    let run = verify_in(
        tmp.path(),
        &["audit", "--key", TESSERA_KEY, "--log", &server.url],
    );
    expect_code(&run, 2, "server error");
    assert!(
        !run.stderr.contains('\u{1b}'),
        "raw escape reached the terminal: {:?}",
        run.stderr
    );
    assert!(run.stderr.contains("\\u{1b}"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);
}

#[test]
fn help_documents_exit_codes_and_ends_with_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let run = verify_in(tmp.path(), &["--help"]);
    expect_code(&run, 0, "--help");
    assert!(run.stdout.contains("Exit codes:"), "{}", run.stdout);
    assert!(run.stdout.contains("1  verification failed"));
    for cmd in [
        "checkpoint",
        "inclusion",
        "consistency",
        "audit",
        "published",
        "monitor",
    ] {
        let run = verify_in(tmp.path(), &[cmd, "--help"]);
        expect_code(&run, 0, cmd);
        let last_lines: Vec<&str> = run.stdout.trim_end().lines().rev().take(2).collect();
        assert!(
            last_lines[1].trim() == "Example:",
            "{cmd} --help ends with an example:\n{}",
            run.stdout
        );
        assert!(
            last_lines[0]
                .trim()
                .starts_with(&format!("stateanchor-verify {cmd} "))
        );
    }
    let run = verify_in(tmp.path(), &["--version"]);
    expect_code(&run, 0, "--version");
}

#[test]
fn a_broken_pipe_is_not_an_error() {
    let dir = tessera_dir();
    for _ in 0..5 {
        let mut child = Command::new(integration_tests::bin("stateanchor-verify"))
            .args([
                "--json",
                "audit",
                "--key",
                TESSERA_KEY,
                "--log",
                dir.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away, like `| head -0`
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}
