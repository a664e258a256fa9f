//! The public quarter of the oasdiff-derived corpus (testdata/gate-corpus),
//! scored by its own gate_check.py against the real binary: the targets of
//! issue 12 (ERR-verdict agreement >= 97 %, rule precision and recall >= 90 %,
//! no crash) must hold.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use std::path::PathBuf;
use std::process::Command;

#[test]
fn public_corpus_meets_the_targets() {
    // At run time first: a test binary built from another checkout sharing
    // the target directory (CI) must read this checkout's files.
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let root = PathBuf::from(manifest).join("../testdata/gate-corpus");
    let bin = env!("CARGO_BIN_EXE_stateanchor-gate");
    // A fixed day, so that x-sunset dates in the corpus compare the same way every year.
    let cmd = format!(
        "'{bin}' diff {{base}} {{revision}} --format json --compat oasdiff --today 2026-08-08"
    );
    let out = Command::new("python3")
        .arg(root.join("gate_check.py"))
        .args(["--cmd", &cmd, "--split", "public", "--json"])
        .output()
        .expect("python3 runs gate_check.py");
    assert!(
        out.status.success(),
        "gate_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("gate_check.py --json prints JSON");
    let s = &doc["summary"];
    let pct = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    println!("{}", serde_json::to_string_pretty(s).unwrap());
    assert_eq!(s["crashed"], 0, "crashes");
    assert_eq!(s["timeouts"], 0, "timeouts");
    assert!(
        pct(&s["err_verdict"]["agreement_pct"]) >= 97.0,
        "ERR-verdict agreement {}",
        s["err_verdict"]["agreement_pct"]
    );
    assert!(
        pct(&s["all_mode"]["rule_precision_pct"]) >= 90.0,
        "precision {}",
        s["all_mode"]["rule_precision_pct"]
    );
    assert!(
        pct(&s["all_mode"]["rule_recall_pct"]) >= 90.0,
        "recall {}",
        s["all_mode"]["rule_recall_pct"]
    );
    assert!(
        pct(&s["single_mode"]["rule_recall_pct"]) >= 90.0,
        "single-check recall {}",
        s["single_mode"]["rule_recall_pct"]
    );
    assert!(
        pct(&s["single_mode"]["scoped_rule_agreement_pct"]) >= 90.0,
        "scoped agreement {}",
        s["single_mode"]["scoped_rule_agreement_pct"]
    );
}
