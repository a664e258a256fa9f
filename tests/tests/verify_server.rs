//! `stateanchor-verify` against the real `stateanchor-log` server (RocksDB in
//! a temp dir, HTTP on 127.0.0.1): every command, with proofs from the log's
//! API and from its tiles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod verify_support;

use integration_tests::LogServer;
use verify_support::*;

/// An entry of the raw write API, JSON like an envelope but not one (no
/// `v`): the raw API refuses entries a verifier would read as a record's
/// envelope (spec/compliance.md, section 1).
fn envelope(i: u64) -> Vec<u8> {
    format!(
        r#"{{"digest":"sha256:{:064x}","id":"run-{i}","project":"p1","time":"2026-11-23T00:00:00Z","type":"sync_run"}}"#,
        i
    )
    .into_bytes()
}

#[test]
fn every_command_against_the_real_server() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = tmp.path();
    let server = LogServer::start(&[]);
    let key = server.verifier_key.clone();
    for i in 0..300 {
        let _ = server.append(&envelope(i));
    }
    let old_text = server.wait_for_checkpoint(300);
    let old = tmp.path().join("old.checkpoint");
    std::fs::write(&old, &old_text).unwrap();

    // checkpoint, from the URL and from a file.
    let run = verify_in(
        ev,
        &[
            "--json",
            "checkpoint",
            "--key",
            &key,
            &format!("{}/checkpoint", server.url),
        ],
    );
    expect_code(&run, 0, "checkpoint URL");
    assert_eq!(run.json()["origin"], server.origin.as_str());
    expect_code(
        &verify_in(ev, &["checkpoint", "--key", &key, old.to_str().unwrap()]),
        0,
        "checkpoint file",
    );

    for i in 300..700 {
        let _ = server.append(&envelope(i));
    }
    let _ = server.wait_for_checkpoint(700);

    // inclusion: by index, leaf hash and entry file; from the API and from tiles.
    let entry = tmp.path().join("entry");
    std::fs::write(&entry, envelope(517)).unwrap();
    let leaf = tlog::leaf_hash(&envelope(517)).to_base64();
    for (source, want) in [("auto", "api"), ("api", "api"), ("tiles", "tiles")] {
        for target in [
            vec!["--index", "517"],
            vec!["--leaf-hash", leaf.as_str()],
            vec!["--entry-file", entry.to_str().unwrap()],
        ] {
            let mut args = vec![
                "--json",
                "inclusion",
                "--key",
                &key,
                "--log",
                &server.url,
                "--proof-source",
                source,
            ];
            args.extend(&target);
            let run = verify_in(ev, &args);
            expect_code(&run, 0, &format!("inclusion {source} {target:?}"));
            let v = run.json();
            assert_eq!(v["leaf_index"], 517);
            assert_eq!(v["leaf_hash"], leaf.as_str());
            assert_eq!(v["proof_source"], want);
        }
    }
    // An entry the log does not have, and an index beyond its tree.
    std::fs::write(&entry, b"not in the log").unwrap();
    let run = verify_in(
        ev,
        &[
            "inclusion",
            "--key",
            &key,
            "--log",
            &server.url,
            "--entry-file",
            entry.to_str().unwrap(),
        ],
    );
    expect_code(&run, 1, "absent entry");
    let run = verify_in(
        ev,
        &[
            "inclusion",
            "--key",
            &key,
            "--log",
            &server.url,
            "--index",
            "1000000",
        ],
    );
    expect_code(&run, 1, "index beyond the tree");

    // consistency from the saved checkpoint to the current one, both sources.
    for source in ["api", "tiles"] {
        let run = verify_in(
            ev,
            &[
                "--json",
                "consistency",
                "--key",
                &key,
                "--log",
                &server.url,
                "--old",
                old.to_str().unwrap(),
                "--proof-source",
                source,
            ],
        );
        expect_code(&run, 0, &format!("consistency {source}"));
        assert_eq!(run.json()["proof_source"], source);
        assert_eq!(run.json()["old"]["tree_size"], 300);
    }

    // audit over HTTP, with a state file; then the log grows and it goes on.
    let state = tmp.path().join("audit.state");
    let run = verify_in(
        ev,
        &[
            "--json",
            "audit",
            "--key",
            &key,
            "--log",
            &server.url,
            "--state",
            state.to_str().unwrap(),
        ],
    );
    expect_code(&run, 0, "audit");
    let audited = run.json()["checkpoint"]["tree_size"].as_u64().unwrap();
    assert!(audited >= 700);

    // monitor: first use, growth.
    let mstate = tmp.path().join("monitor.state");
    let mrun = |what: &str| {
        let run = verify_in(
            ev,
            &[
                "--json",
                "monitor",
                "--key",
                &key,
                "--log",
                &server.url,
                "--state",
                mstate.to_str().unwrap(),
                "--once",
            ],
        );
        expect_code(&run, 0, what);
        run.json()
    };
    assert_eq!(mrun("monitor first")["first_use"], true);
    for i in 700..1000 {
        let _ = server.append(&envelope(i));
    }
    let _ = server.wait_for_checkpoint(1000);
    let v = mrun("monitor after growth");
    assert_eq!(v["first_use"], false);
    assert_eq!(v["proof_source"], "api");

    let run = verify_in(
        ev,
        &[
            "--json",
            "audit",
            "--key",
            &key,
            "--log",
            &server.url,
            "--state",
            state.to_str().unwrap(),
        ],
    );
    expect_code(&run, 0, "resumed audit");
    assert_eq!(run.json()["resumed_from"], audited);

    // published: a publication directory holding the log's checkpoints.
    let publ = tmp.path().join("pub");
    std::fs::create_dir_all(publ.join("checkpoints")).unwrap();
    std::fs::write(publ.join("checkpoints/300"), &old_text).unwrap();
    let latest = server.wait_for_checkpoint(1000);
    let size = latest.lines().nth(1).unwrap().to_owned();
    std::fs::write(publ.join(format!("checkpoints/{size}")), &latest).unwrap();
    std::fs::write(publ.join("checkpoint"), &latest).unwrap();
    std::fs::write(
        publ.join("log.json"),
        serde_json::json!({"origin": server.origin, "verifier_key": key, "log_url": server.url})
            .to_string(),
    )
    .unwrap();
    let repo = format!("dir:{}", publ.display());
    let run = verify_in(
        ev,
        &[
            "--json",
            "published",
            "--key",
            &key,
            "--log",
            &server.url,
            "--repo",
            &repo,
        ],
    );
    expect_code(&run, 0, "published");

    // Another log's checkpoint in the publication: not signed by this log's key.
    let other = LogServer::start(&[]);
    let _ = other.append(b"x");
    let other_cp = other.wait_for_checkpoint(1);
    std::fs::write(publ.join("checkpoints/1"), other_cp).unwrap();
    let run = verify_in(
        ev,
        &[
            "published",
            "--key",
            &key,
            "--log",
            &server.url,
            "--repo",
            &repo,
        ],
    );
    expect_code(&run, 1, "foreign checkpoint in the publication");

    // The log's own key is never taken from it: another key fails.
    let run = verify_in(
        ev,
        &["audit", "--key", &other.verifier_key, "--log", &server.url],
    );
    expect_code(&run, 1, "another log's key");
}
