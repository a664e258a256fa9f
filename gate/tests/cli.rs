//! The real `stateanchor-gate` binary: exit codes, formats, git inputs, overrides, help.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use std::path::Path;
use std::process::{Command, Output};

const BASE: &str = "openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /users/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: verbose, in: query, schema: {type: boolean}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [id]
                properties:
                  id: {type: string}
                  name: {type: string}
";

fn gate(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stateanchor-gate"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn find<'v>(report: &'v serde_json::Value, rule: &str) -> &'v serde_json::Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} in {report}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn exit_codes_follow_fail_on() {
    let d = tempfile::tempdir().unwrap();
    let base = write(d.path(), "base.yaml", BASE);
    // Only a WARN: the optional query parameter is removed.
    let warn = write(
        d.path(),
        "warn.yaml",
        &BASE.replace(
            "        - {name: verbose, in: query, schema: {type: boolean}}\n",
            "",
        ),
    );
    // An ERR: the required response property is removed.
    let err = write(
        d.path(),
        "err.yaml",
        &BASE.replace("                  id: {type: string}\n", ""),
    );
    assert_eq!(
        gate(&["diff", &base, &base], d.path()).status.code(),
        Some(0)
    );
    assert_eq!(
        gate(&["diff", &base, &warn], d.path()).status.code(),
        Some(0)
    );
    assert_eq!(
        gate(&["diff", &base, &warn, "--fail-on", "WARN"], d.path())
            .status
            .code(),
        Some(1)
    );
    let o = gate(&["diff", &base, &err, "--format", "json"], d.path());
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let f = find(&v, "response-required-property-removed");
    assert_eq!(f["kind"], "response_required_property_removed");
    assert_eq!(f["endpoint"], "GET /users/{id}");
    assert_eq!(f["severity"], "ERR");
    assert_eq!(f["base"]["line"], 18); // the `id:` line
    assert!(f["fingerprint"].as_str().unwrap().len() == 16);
    // An override turns it off, or down.
    assert_eq!(
        gate(
            &[
                "diff",
                &base,
                &err,
                "--override",
                "response-required-property-removed=warn"
            ],
            d.path()
        )
        .status
        .code(),
        Some(0)
    );
    let file = write(
        d.path(),
        "levels.txt",
        "# ours\nresponse_required_property_removed none\n",
    );
    let o = gate(
        &[
            "diff",
            &base,
            &err,
            "--severity-overrides",
            &file,
            "--format",
            "json",
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("\"findings\": []"));
    assert_eq!(
        gate(
            &["diff", &base, &err, "--override", "no-such-rule=err"],
            d.path()
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn errors_exit_2_with_a_message() {
    let d = tempfile::tempdir().unwrap();
    let base = write(d.path(), "base.yaml", BASE);
    let bad = write(d.path(), "bad.yaml", "just: [text\n");
    let not_openapi = write(d.path(), "x.json", "{\"swagger\": \"2.0\"}");
    let remote = write(
        d.path(),
        "remote.yaml",
        &format!("{BASE}components:\n  schemas:\n    A: {{$ref: 'https://example.com/a.yaml'}}\n"),
    );
    for other in [
        bad.as_str(),
        not_openapi.as_str(),
        remote.as_str(),
        "missing.yaml",
    ] {
        let o = gate(&["diff", &base, other, "--format", "json"], d.path());
        assert_eq!(o.status.code(), Some(2), "{other}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("stateanchor-gate: error: "), "{err}");
    }
    let o = gate(&["diff", &base, &remote], d.path());
    assert!(String::from_utf8_lossy(&o.stderr).contains("never fetches"));
    std::fs::write(d.path().join("bytes.yaml"), b"openapi: \xff\xfe\n").unwrap();
    assert_eq!(
        gate(&["diff", &base, "bytes.yaml"], d.path()).status.code(),
        Some(2)
    );
    assert_eq!(gate(&["diff", &base], d.path()).status.code(), Some(2));
}

#[test]
fn every_format_renders() {
    let d = tempfile::tempdir().unwrap();
    let base = write(d.path(), "base.yaml", BASE);
    let rev = write(
        d.path(),
        "rev.yaml",
        &BASE.replace("                  id: {type: string}\n", ""),
    );
    let md = stdout(&gate(
        &["diff", &base, &rev, "--format", "markdown"],
        d.path(),
    ));
    assert!(
        md.contains("| ERR | `GET /users/{id}` | `response-required-property-removed` |"),
        "{md}"
    );
    let junit = stdout(&gate(&["diff", &base, &rev, "--format", "junit"], d.path()));
    assert!(junit.contains("<failure type=\"ERR\""), "{junit}");
    let gh = stdout(&gate(
        &["diff", &base, &rev, "--format", "github-actions"],
        d.path(),
    ));
    assert!(
        gh.contains("::error title=response-required-property-removed GET /users/{id},file="),
        "{gh}"
    );
    let text = stdout(&gate(&["diff", &base, &rev], d.path()));
    // No versioning-policy finding: info.version '1' is not a semantic
    // version, which oasdiff's policy leaves alone.
    assert!(text.contains("1 findings: 1 ERR, 0 WARN, 0 INFO"), "{text}");
    let cl = stdout(&gate(&["changelog", &base, &rev], d.path()));
    assert!(cl.contains("## `GET /users/{id}` (ERR)"), "{cl}");
    let clj: serde_json::Value = serde_json::from_str(&stdout(&gate(
        &["changelog", &base, &rev, "--format", "json"],
        d.path(),
    )))
    .unwrap();
    assert_eq!(clj["endpoints"][0]["endpoint"], "GET /users/{id}");
}

#[test]
fn output_is_deterministic() {
    let d = tempfile::tempdir().unwrap();
    // At run time first, as in corpus.rs.
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let corpus = Path::new(&manifest).join("../testdata/gate-corpus/data");
    let (a, b) = (
        corpus.join("openapi-test1.yaml"),
        corpus.join("openapi-test3.yaml"),
    );
    let args = [
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "json",
        "--today",
        "2025-01-01",
    ];
    let one = gate(&args, d.path());
    let two = gate(&args, d.path());
    assert_eq!(one.stdout, two.stdout);
    assert!(
        !one.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
}

#[test]
fn git_base_and_relative_refs() {
    let d = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let s = Command::new("git")
            .args(args)
            .current_dir(d.path())
            .output()
            .unwrap();
        assert!(
            s.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["config", "user.email", "t@example.com"]);
    git(&["config", "user.name", "t"]);
    std::fs::create_dir(d.path().join("api")).unwrap();
    let main = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'schemas/a.yaml#/A'}\n";
    std::fs::create_dir(d.path().join("api/schemas")).unwrap();
    write(&d.path().join("api"), "openapi.yaml", main);
    write(
        &d.path().join("api/schemas"),
        "a.yaml",
        "A:\n  type: object\n  required: [x]\n  properties:\n    x: {type: string}\n",
    );
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "base"]);
    // The working tree drops the required property in the referenced file.
    write(
        &d.path().join("api/schemas"),
        "a.yaml",
        "A:\n  type: object\n  properties: {}\n",
    );
    let o = gate(
        &[
            "diff",
            "git:HEAD:api/openapi.yaml",
            "api/openapi.yaml",
            "--format",
            "json",
        ],
        d.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        find(&v, "response-required-property-removed")["base"]["file"],
        "schemas/a.yaml"
    ); // relative to the document
    assert_eq!(
        gate(
            &[
                "diff",
                "git:HEAD:api/openapi.yaml",
                "git:HEAD:api/openapi.yaml"
            ],
            d.path()
        )
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        gate(
            &["diff", "git:nope:api/openapi.yaml", "api/openapi.yaml"],
            d.path()
        )
        .status
        .code(),
        Some(2)
    );
    // A reference out of the document's directory is refused.
    write(
        &d.path().join("api"),
        "escape.yaml",
        &main.replace("schemas/a.yaml", "../outside.yaml"),
    );
    write(d.path(), "outside.yaml", "A: {type: string}\n");
    let o = gate(&["diff", "api/openapi.yaml", "api/escape.yaml"], d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("leaves the document's directory"));
}

#[test]
fn rules_and_help() {
    let d = tempfile::tempdir().unwrap();
    let o = gate(&["rules", "--format", "json"], d.path());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rules = v.as_array().unwrap();
    assert_eq!(rules.len(), 509);
    assert_eq!(rules.iter().filter(|r| r["level"] == "ERR").count(), 213);
    assert_eq!(rules.iter().filter(|r| r["level"] == "WARN").count(), 30);
    assert!(stdout(&gate(&["rules"], d.path())).contains("request-parameter-removed"));
    // The rules oasdiff can never emit are marked, and only they.
    let never: Vec<&str> = rules
        .iter()
        .filter(|r| r["never_emitted"] == true)
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(never.len(), gate::NEVER_EMITTED.len());
    assert!(never.contains(&"request-property-min-items-set"));
    for cmd in [
        &["--help"][..],
        &["diff", "--help"],
        &["rules", "--help"],
        &["changelog", "--help"],
    ] {
        let o = gate(cmd, d.path());
        assert_eq!(o.status.code(), Some(0));
        let help = stdout(&o);
        let last = help.trim_end().lines().last().unwrap();
        assert!(
            help.contains("Example:") && last.trim_start().starts_with("stateanchor-gate "),
            "{cmd:?}: {help}"
        );
    }
}

#[test]
fn compat_oasdiff_answers_as_oasdiff_and_bad_modes_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let base = write(d.path(), "base.yaml", BASE);
    // The 200 response's object split into allOf of two parts: the same
    // documents are returned.
    let split = BASE.replace(
        "                type: object
                required: [id]
                properties:
                  id: {type: string}
                  name: {type: string}
",
        "                allOf:
                  - type: object
                    required: [id]
                    properties:
                      id: {type: string}
                  - type: object
                    properties:
                      name: {type: string}
",
    );
    let rev = write(d.path(), "rev.yaml", &split);
    let native = gate(&["diff", &base, &rev, "--format", "json"], d.path());
    assert_eq!(native.status.code(), Some(0), "{}", stdout(&native));
    let report: serde_json::Value = serde_json::from_str(&stdout(&native)).unwrap();
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
    let oasdiff = gate(
        &[
            "diff", &base, &rev, "--format", "json", "--compat", "oasdiff",
        ],
        d.path(),
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&oasdiff)).unwrap();
    find(&report, "response-body-all-of-added");
    let bad = gate(&["diff", &base, &rev, "--compat", "loose"], d.path());
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("expected oasdiff or stateanchor"), "{err}");
}
