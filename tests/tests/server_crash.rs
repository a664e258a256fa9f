//! Crash safety: SIGKILL the real server during concurrent appends, restart
//! it, and check that nothing acknowledged was lost, that the stored tree
//! matches the entries, and that the new checkpoint is consistent with every
//! checkpoint observed before the kill. Repeated 20 times on one data dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use integration_tests::LogServer;
use reqwest::blocking::Client;
use serde_json::Value;
use tlog::{Hash, VerifierKey, leaf_hash, open_checkpoint};

const ROUNDS: usize = 20;
const WRITERS: usize = 8;

fn all_entries(c: &Client, url: &str, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(size as usize);
    while (out.len() as u64) < size {
        let start = out.len();
        let v: Value = c
            .get(format!("{url}/v1/entries?start={start}&end={size}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        for e in v["entries"].as_array().unwrap() {
            assert_eq!(e["index"].as_u64().unwrap(), out.len() as u64);
            out.push(B64.decode(e["entry"].as_str().unwrap()).unwrap());
        }
    }
    out
}

#[test]
fn sigkill_during_appends_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let c = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // (index, entry) of every acknowledged append, and every checkpoint seen.
    let mut acked: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut seen: Vec<(u64, Hash)> = Vec::new();
    let mut vkey_text = None;

    for round in 0..ROUNDS {
        let mut s = LogServer::start_in(&dir, &["--checkpoint-interval", "50ms"]);
        let vkey = VerifierKey::from_text(&s.verifier_key).unwrap();
        assert_eq!(
            vkey_text.get_or_insert(s.verifier_key.clone()),
            &s.verifier_key
        );

        // 1. After the restart: every acknowledged entry is at its index...
        let cp_text = c
            .get(format!("{}/checkpoint", s.url))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let size: u64 = c
            .get(format!("{}/healthz", s.url))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["tree_size"]
            .as_u64()
            .unwrap();
        let entries = all_entries(&c, &s.url, size);
        for (i, e) in &acked {
            assert_eq!(
                &entries[*i as usize], e,
                "round {round}: entry {i} lost or moved"
            );
        }
        // ...the stored hashes match a tree rebuilt from the entries...
        let mut tree = tlog::MemoryHashStore::new();
        for e in &entries {
            tree.append(leaf_hash(e));
        }
        let cp = s.wait_for_checkpoint(size);
        let cp = open_checkpoint(cp.as_bytes(), &vkey).unwrap().checkpoint;
        assert_eq!(cp.tree_size, size, "round {round}");
        assert_eq!(
            cp.root_hash,
            tree.root(),
            "round {round}: root does not match the entries"
        );
        for t in tlog::tiles_for_size(size) {
            let got = c
                .get(format!("{}/{}", s.url, t.path()))
                .send()
                .unwrap()
                .bytes()
                .unwrap();
            assert_eq!(
                got.to_vec(),
                tlog::tile_bytes(t, &tree).unwrap(),
                "round {round}: {}",
                t.path()
            );
        }
        // ...inclusion proofs of acknowledged entries (from full tiles' rows
        // and the growing tile) verify against the new checkpoint...
        let proofs = |v: &Value| -> Vec<Hash> {
            v["proof"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
                .collect()
        };
        let step = (acked.len() / 16).max(1);
        for (i, e) in acked.iter().step_by(step).chain(acked.last()) {
            let v: Value = c
                .get(format!(
                    "{}/v1/proof/inclusion?index={i}&tree_size={size}",
                    s.url
                ))
                .send()
                .unwrap()
                .json()
                .unwrap();
            tlog::verify_inclusion(*i, size, &leaf_hash(e), &proofs(&v), &cp.root_hash)
                .unwrap_or_else(|err| panic!("round {round}: entry {i}: {err}"));
        }
        // ...and the new checkpoint is consistent with every one seen before.
        let _ = cp_text;
        for (old_size, old_root) in &seen {
            let v: Value = c
                .get(format!(
                    "{}/v1/proof/consistency?first={old_size}&second={size}",
                    s.url
                ))
                .send()
                .unwrap()
                .json()
                .unwrap();
            tlog::verify_consistency(*old_size, size, old_root, &cp.root_hash, &proofs(&v))
                .unwrap_or_else(|e| panic!("round {round}: {old_size} -> {size}: {e}"));
        }
        seen.push((cp.tree_size, cp.root_hash));

        // 2. Concurrent appends, and a watcher of checkpoints, until SIGKILL.
        let stop = Arc::new(AtomicBool::new(false));
        let new_acks = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for w in 0..WRITERS {
            let (stop, new_acks, url, key) = (
                stop.clone(),
                new_acks.clone(),
                s.url.clone(),
                s.admin_key.clone(),
            );
            threads.push(std::thread::spawn(move || {
                let c = Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let entry = format!("round {round} writer {w} entry {n}").into_bytes();
                    n += 1;
                    let Ok(r) = c
                        .post(format!("{url}/v1/entries"))
                        .bearer_auth(&key)
                        .header("content-type", "application/octet-stream")
                        .body(entry.clone())
                        .send()
                    else {
                        break;
                    };
                    if r.status().as_u16() != 201 {
                        break;
                    }
                    let Ok(v) = r.json::<Value>() else { break };
                    new_acks
                        .lock()
                        .unwrap()
                        .push((v["index"].as_u64().unwrap(), entry));
                }
            }));
        }
        let watcher = {
            let (stop, url, vkey) = (stop.clone(), s.url.clone(), vkey.clone());
            std::thread::spawn(move || {
                let c = Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(r) = c.get(format!("{url}/checkpoint")).send() else {
                        break;
                    };
                    let Ok(text) = r.text() else { break };
                    if let Ok(cp) = open_checkpoint(text.as_bytes(), &vkey) {
                        seen.push((cp.checkpoint.tree_size, cp.checkpoint.root_hash));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                seen
            })
        };
        // Each round appends at least 64 entries before the kill, however
        // busy the machine is (the rounds together then cover several full
        // tiles), then a little more for a varying cut.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while new_acks.lock().unwrap().len() < 64 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(20 + (round as u64 * 37) % 300));
        s.child.kill().unwrap(); // SIGKILL
        s.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        seen.extend(watcher.join().unwrap());
        seen.sort_unstable_by_key(|(size, _)| *size);
        seen.dedup();
        acked.extend(new_acks.lock().unwrap().drain(..));
    }
    // Enough for several full tiles (their rows) and a growing tile cut at
    // many places.
    eprintln!("{} acknowledged entries over {ROUNDS} rounds", acked.len());
    assert!(
        acked.len() > 4 * 256,
        "the test appended too little to mean anything: {}",
        acked.len()
    );
}
