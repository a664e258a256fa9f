//! The gate in a pull-request job, end to end: `stateanchor-gate check`
//! against the real `stateanchor-log`, which classifies the documents with
//! its gate engine, records the decision, and blocks exactly when an ERR
//! change has no ACTIVE exception; the project's rule configuration; the
//! kept documents; the API changelog; and an export whose server-classified
//! verdicts `stateanchor-verify export --specs` reproduces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use integration_tests::{LogServer, bin, settled};
use serde_json::{Value, json};

const BASE: &str = "openapi: 3.0.3
info: {title: users, version: 1.0.0}
paths:
  /users/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200':
          description: a user
          content:
            application/json:
              schema:
                type: object
                required: [id, name]
                properties:
                  id: {type: string}
                  name: {type: string}
";

/// The revision: the response's required property `name` is removed (ERR).
fn revision() -> String {
    BASE.replace("required: [id, name]", "required: [id]")
        .replace("                  name: {type: string}\n", "")
}

struct Api<'a> {
    s: &'a LogServer,
    http: reqwest::blocking::Client,
}

impl Api<'_> {
    fn call(&self, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.s.url))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn ok(&self, method: &str, path: &str, key: &str, body: Option<&Value>) -> Value {
        let (st, v) = self.call(method, path, key, body);
        assert!((200..300).contains(&st), "{method} {path}: {st} {v}");
        v
    }
}

fn gate(args: &[&str], key: Option<&str>, cwd: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(bin("stateanchor-gate"));
    cmd.args(args).current_dir(cwd);
    // The job's environment is the test's: no CI variables leak in.
    for v in [
        "GITHUB_SHA",
        "GITHUB_HEAD_REF",
        "GITHUB_REF_NAME",
        "GITHUB_ACTOR",
        "CI_COMMIT_SHA",
        "CI_COMMIT_REF_NAME",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
        "GITLAB_USER_LOGIN",
        "STATEANCHOR_API_KEY",
    ] {
        cmd.env_remove(v);
    }
    if let Some(k) = key {
        cmd.env("STATEANCHOR_API_KEY", k);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev Eloper")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev Eloper")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

#[test]
fn a_pull_request_job_is_blocked_exactly_when_an_unexcepted_err_change_is_made() {
    let s = LogServer::start(&[]);
    let api = Api {
        s: &s,
        http: reqwest::blocking::Client::new(),
    };
    let project = api.ok(
        "POST",
        "/v1/admin/projects",
        &s.admin_key,
        Some(&json!({"name": "users-api"})),
    )["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = |name: &str, role: &str| {
        api.ok(
            "POST",
            &format!("/v1/admin/projects/{project}/principals"),
            &s.admin_key,
            Some(&json!({"name": name, "roles": [role]})),
        )["api_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ci, alice, bob, auditor) = (
        key("ci", "ci"),
        key("alice", "codeowner"),
        key("bob", "codeowner"),
        key("auditor", "auditor"),
    );

    // A repository with the spec on main and a change on a branch.
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("openapi.yaml"), BASE).unwrap();
    git(dir, &["add", "openapi.yaml"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    git(dir, &["checkout", "-q", "-b", "drop-name"]);
    std::fs::write(dir.join("openapi.yaml"), revision()).unwrap();
    git(dir, &["commit", "-q", "-am", "drop name"]);
    let check = |extra: &[&str], key: Option<&str>| {
        let mut args = vec![
            "check",
            "--log",
            &s.url,
            "--project",
            &project,
            "--base",
            "git:main:openapi.yaml",
            "--revision",
            "openapi.yaml",
        ];
        args.extend_from_slice(extra);
        gate(&args, key, dir)
    };

    // 1. Blocked: the ERR has no exception. Commit, branch and author come from git.
    let (code, out, errs) = check(&["--summary", "Drops name from GET /users/{id}"], Some(&ci));
    assert_eq!(code, 1, "{out}{errs}");
    assert!(out.contains("verdict: ERR, BLOCKED"), "{out}");
    assert!(
        out.contains("blocked: ERR response_required_property_removed on GET /users/{id}: no ACTIVE exception"),
        "{out}"
    );
    assert!(out.contains(&format!("proof: {}/entries/", s.url)), "{out}");
    assert!(out.contains("stateanchor-verify inclusion --log"), "{out}");
    let (_, json_out, _) = check(&["--format", "json"], Some(&ci));
    let blocked: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(blocked["classified_by"], "server");
    assert_eq!(blocked["classifier"]["engine"], "stateanchor-gate");
    let run = blocked["run_id"].as_str().unwrap();
    let d = api.ok(
        "GET",
        &format!("/api/projects/{project}/decisions/{run}"),
        &auditor,
        None,
    );
    let rec = &d["record"];
    assert_eq!(rec["branch"], "drop-name");
    assert_eq!(rec["author"], "Dev Eloper <dev@example.com>");
    assert_eq!(rec["classified_by"], "server");
    let (base_sha, rev_sha) = (
        rec["classifier"]["base"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned(),
        rec["classifier"]["revision"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let names: Vec<&str> = rec["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base/openapi.yaml", "revision/openapi.yaml"]);
    assert!(
        rec["classifier"]["config_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // The documents are kept, for the project only.
    let doc = api
        .http
        .get(format!("{}/api/projects/{project}/specs/{base_sha}", s.url))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(doc.status().as_u16(), 200);
    assert_eq!(doc.text().unwrap(), BASE);
    let other = api.ok(
        "POST",
        "/v1/admin/projects",
        &s.admin_key,
        Some(&json!({"name": "other"})),
    )["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger = api.ok(
        "POST",
        &format!("/v1/admin/projects/{other}/principals"),
        &s.admin_key,
        Some(&json!({"name": "x", "roles": ["auditor"]})),
    )["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = api.call(
        "GET",
        &format!("/api/projects/{other}/specs/{base_sha}"),
        &stranger,
        None,
    );
    assert_eq!(st, 404, "another project's document");

    // 2. An exception for that change, naming the blocked run (filed by
    //    its rule id, for {userId}: parameter names do not matter), approved by a second codeowner: the job passes.
    let exc = api.ok(
        "POST",
        &format!("/api/projects/{project}/exceptions"),
        &alice,
        Some(
            &json!({"kind": "response-required-property-removed", "endpoint": "get /users/{userId}",
            "run_id": run, "reason": "no client reads name", "expires_at": compliance_time(3_600_000)}),
        ),
    )["exception_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(
        "POST",
        &format!("/api/projects/{project}/exceptions/{exc}/signals"),
        &bob,
        Some(&json!({"type": "codeowner_approval"})),
    );
    let (code, out, errs) = check(&["--summary", "Drops name from GET /users/{id}"], Some(&ci));
    assert_eq!(code, 0, "{out}{errs}");
    assert!(out.contains("verdict: ERR, not blocked"), "{out}");
    assert!(out.contains(&format!("exception applied: {exc}")), "{out}");

    // 3. The project's rule configuration: the rule at WARN passes without
    //    an exception; the configuration is in the record.
    let (st, v) = api.call(
        "PATCH",
        &format!("/v1/admin/projects/{project}/settings"),
        &s.admin_key,
        Some(&json!({"gate": {"severity_overrides": {"response_required_property_removed": "warn"}}})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["settings"]["gate"]["severity_overrides"],
        json!({"response-required-property-removed": "warn"})
    );
    let (st, v) = api.call(
        "PATCH",
        &format!("/v1/admin/projects/{project}/settings"),
        &s.admin_key,
        Some(&json!({"gate": {"severity_overrides": {"no-such-rule": "warn"}}})),
    );
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("no-such-rule"), "{v}");
    let (code, out, errs) = check(
        &[
            "--format",
            "json",
            "--commit-sha",
            "abcdef1",
            "--branch",
            "b",
            "--author",
            "a",
        ],
        Some(&ci),
    );
    assert_eq!(code, 0, "{out}{errs}");
    let warn: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(warn["verdict"], "WARN");
    assert_eq!(
        warn["classifier"]["config"]["severity_overrides"],
        json!({"response-required-property-removed": "warn"})
    );
    assert_ne!(
        warn["classifier"]["config_digest"],
        blocked["classifier"]["config_digest"]
    );

    // 4. Errors a job can hit: exit 2, a clear message, nothing recorded.
    let size = settled(|| api.ok("GET", "/v1/log", &s.admin_key, None)["tree_size"].clone());
    let (code, _, errs) = check(&[], None);
    assert_eq!(code, 2);
    assert!(
        errs.contains("STATEANCHOR_API_KEY holds no API key"),
        "{errs}"
    );
    std::fs::write(dir.join("notes.txt"), "just: text\n").unwrap();
    let (code, _, errs) = gate(
        &[
            "check",
            "--log",
            &s.url,
            "--project",
            &project,
            "--base",
            "openapi.yaml",
            "--revision",
            "notes.txt",
        ],
        Some(&ci),
        dir,
    );
    assert_eq!(code, 2);
    assert!(errs.contains("revision document"), "{errs}");
    std::fs::write(
        dir.join("split.yaml"),
        BASE.replace(
            "schema: {type: string}}",
            "schema: {$ref: 'common.yaml#/Id'}}",
        ),
    )
    .unwrap();
    let (code, _, errs) = gate(
        &[
            "check",
            "--log",
            &s.url,
            "--project",
            &project,
            "--base",
            "openapi.yaml",
            "--revision",
            "split.yaml",
        ],
        Some(&ci),
        dir,
    );
    assert_eq!(code, 2);
    assert!(errs.contains("bundle"), "{errs}");
    let (code, _, errs) = gate(
        &[
            "check",
            "--log",
            &s.url,
            "--project",
            "prj_nope",
            "--base",
            "openapi.yaml",
            "--revision",
            "openapi.yaml",
        ],
        Some(&ci),
        dir,
    );
    assert_eq!(code, 2);
    assert!(errs.contains("the log refused the decision (404"), "{errs}");
    let (st, v) = api.call(
        "POST",
        &format!("/api/projects/{project}/decisions"),
        &ci,
        Some(
            &json!({"commit_sha": "abcdef1", "branch": "b", "author": "a",
            "base_spec": BASE, "revision_spec": "openapi: 2.0\n"}),
        ),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().starts_with("revision_spec: "),
        "{v}"
    );
    let (st, v) = api.call(
        "POST",
        &format!("/api/projects/{project}/decisions"),
        &ci,
        Some(
            &json!({"commit_sha": "abcdef1", "branch": "b", "author": "a", "findings": [],
            "base_spec": BASE, "revision_spec": BASE}),
        ),
    );
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("not both"), "{v}");
    assert_eq!(
        settled(|| api.ok("GET", "/v1/log", &s.admin_key, None)["tree_size"].clone()),
        size,
        "refusals record nothing"
    );

    // 5. The API changelog: the runs that passed, newest first.
    let c = api.ok(
        "GET",
        &format!("/api/projects/{project}/changelog"),
        &auditor,
        None,
    );
    let runs = c["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{c}");
    assert_eq!(runs[0]["verdict"], "WARN");
    assert_eq!(runs[1]["summary"], "Drops name from GET /users/{id}");
    assert_eq!(runs[1]["exceptions_applied"], json!([exc]));
    assert_eq!(runs[1]["changes"][0]["endpoint"], "GET /users/{id}");
    assert!(
        runs[1]["proof_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/entries/", s.url))
    );
    let md = api
        .http
        .get(format!(
            "{}/api/projects/{project}/changelog?format=markdown&limit=1",
            s.url
        ))
        .bearer_auth(&ci)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(md.starts_with("# API changelog"), "{md}");
    assert!(md.contains("older ones left out"), "{md}");
    let (st, v) = api.call(
        "GET",
        &format!("/api/projects/{project}/changelog?limit=0"),
        &ci,
        None,
    );
    assert_eq!(st, 400, "{v}");

    // 6. The export says who classified each run, and its server-classified
    //    verdicts are reproduced from the kept documents: every one of them,
    //    or verification fails naming each run that was not. A fifth run
    //    has a document of its own (named users-v3.yaml), so that one run
    //    can lose its document.
    let v3 = BASE.replace(
        "                  name: {type: string}\n",
        "                  name: {type: string}\n                  email: {type: string}\n",
    );
    let run5 = api.ok(
        "POST",
        &format!("/api/projects/{project}/decisions"),
        &ci,
        Some(
            &json!({"commit_sha": "abcdef2", "branch": "b", "author": "a",
            "base_spec": BASE, "revision_spec": v3, "base_name": "openapi.yaml",
            "revision_name": "users-v3.yaml"}),
        ),
    );
    let run5_id = run5["run_id"].as_str().unwrap().to_owned();
    let v3_sha = run5["classifier"]["revision"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("export.json");
    let body = api
        .http
        .get(format!(
            "{}/api/projects/{project}/compliance-export",
            s.url
        ))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    std::fs::write(&export, &body).unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let counts = &v["section_c_access_and_authorization"]["decisions"];
    assert_eq!(counts["classified_by_server"], 5, "{counts}");
    assert_eq!(counts["findings_from_ci"], 0);
    // The shared documents under the names the log serves them by
    // (SHA-256), the fifth run's under the name its run records.
    let specs = tmp.path().join("specs");
    std::fs::create_dir(&specs).unwrap();
    let v3_file = specs.join("users-v3.yaml");
    for (file, sha) in [
        (specs.join(format!("{base_sha}.yaml")), &base_sha),
        (specs.join(format!("{rev_sha}.yaml")), &rev_sha),
        (v3_file.clone(), &v3_sha),
    ] {
        let bytes = api
            .http
            .get(format!("{}/api/projects/{project}/specs/{sha}", s.url))
            .bearer_auth(&auditor)
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        std::fs::write(file, bytes).unwrap();
    }
    let evidence = tmp.path().join("evidence");
    std::fs::create_dir(&evidence).unwrap();
    let verify = |extra: &[&str]| {
        let out = Command::new(bin("stateanchor-verify"))
            .args(["export", export.to_str().unwrap(), "--key", &s.verifier_key])
            .args(["--evidence-dir", evidence.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = specs.to_str().unwrap();
    // (a) Every document there: every run reproduced.
    let (code, out, errs) = verify(&["--specs", dir]);
    assert_eq!(code, 0, "{out}{errs}");
    assert!(
        out.contains("reproduced: 5 of 5 server-classified runs"),
        "{out}"
    );
    assert!(!out.contains("not reproduced"), "{out}");
    let (code, _, errs) = verify(&["--specs", "/nonexistent/specs"]);
    assert_eq!(code, 2, "{errs}");
    assert!(errs.contains("reading the documents directory"), "{errs}");
    let (code, _, errs) = verify(&["--allow-missing-specs"]);
    assert_eq!(code, 2, "--allow-missing-specs needs --specs: {errs}");

    // (b) The fifth run's document removed: verification fails, naming it.
    std::fs::remove_file(&v3_file).unwrap();
    let (code, out, errs) = verify(&["--specs", dir]);
    assert_eq!(code, 1, "{out}{errs}");
    assert!(
        errs.contains("verification failed: 1 of 5 server-classified runs were not reproduced"),
        "{errs}"
    );
    assert!(errs.contains(&format!("run {run5_id} (line ")), "{errs}");
    assert!(
        errs.contains(&format!(
            "its revision document users-v3.yaml (SHA-256 {v3_sha}) is absent from {dir}"
        )),
        "{errs}"
    );
    assert!(errs.contains("--allow-missing-specs"), "{errs}");
    assert!(
        out.contains("reproduced: 4 of 5 server-classified runs"),
        "{out}"
    );

    // (d) ... unless a partial check is asked for: then the output says
    //     which run was not reproduced (text and JSON).
    let (code, out, errs) = verify(&["--specs", dir, "--allow-missing-specs"]);
    assert_eq!(code, 0, "{out}{errs}");
    assert!(out.starts_with("verified: "), "{out}");
    assert!(
        out.contains("\nreproduced: 4 of 5 server-classified runs"),
        "{out}"
    );
    assert!(
        out.contains(
            "not reproduced: 1 of 5 server-classified runs, their documents absent (allowed by --allow-missing-specs)"
        ),
        "{out}"
    );
    assert!(out.contains(&format!("  run {run5_id} (line ")), "{out}");
    let (code, out, errs) = verify(&["--json", "--specs", dir, "--allow-missing-specs"]);
    assert_eq!(code, 0, "{out}{errs}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["status"], "verified", "{j}");
    assert_eq!(j["server_classified_runs"], 5, "{j}");
    assert_eq!(j["reproduced"], 4, "{j}");
    assert_eq!(j["not_reproduced_missing_documents"], 1, "{j}");
    assert_eq!(j["not_reproduced"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["not_reproduced"][0]["run_id"], run5_id.as_str(), "{j}");
    assert_eq!(j["not_reproduced"][0]["reason"], "absent", "{j}");

    // (c) The document edited by one byte, under its recorded name: fails
    //     as a SHA-256 mismatch, with --allow-missing-specs too.
    let edited = v3.replacen("users", "Users", 1);
    assert_eq!(edited.len(), v3.len());
    std::fs::write(&v3_file, &edited).unwrap();
    let edited_sha = compliance::record::sha256_hex(edited.as_bytes());
    for extra in [&[][..], &["--allow-missing-specs"][..]] {
        let mut args = vec!["--specs", dir];
        args.extend_from_slice(extra);
        let (code, out, errs) = verify(&args);
        assert_eq!(code, 1, "{args:?}: {out}{errs}");
        assert!(
            errs.contains("1 of 5 server-classified runs were not reproduced"),
            "{errs}"
        );
        assert!(errs.contains(&format!("run {run5_id} (line ")), "{errs}");
        assert!(
            errs.contains(&format!(
                "{} has the name of its revision document users-v3.yaml but does not match the recorded SHA-256: its SHA-256 is {edited_sha}, the record says {v3_sha}",
                v3_file.display()
            )),
            "{errs}"
        );
    }
    let (code, out, errs) = verify(&["--json", "--specs", dir]);
    assert_eq!(code, 1, "{out}{errs}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&j["status"], &j["check"]),
        (&json!("failed"), &json!("reproduction")),
        "{j}"
    );

    // A shared document edited under its SHA-256 name: the four runs that
    // name it are each named, not only the first.
    std::fs::write(&v3_file, &v3).unwrap();
    let rev_file = specs.join(format!("{rev_sha}.yaml"));
    let rev_text = std::fs::read_to_string(&rev_file).unwrap();
    std::fs::write(&rev_file, rev_text.replacen("users", "Users", 1)).unwrap();
    let (code, out, errs) = verify(&["--specs", dir, "--allow-missing-specs"]);
    assert_eq!(code, 1, "{out}{errs}");
    assert!(
        errs.contains("4 of 5 server-classified runs were not reproduced"),
        "{errs}"
    );
    assert_eq!(
        errs.matches("does not match the recorded SHA-256").count(),
        4,
        "{errs}"
    );
    std::fs::write(&rev_file, rev_text).unwrap();
    let (code, out, errs) = verify(&["--specs", dir]);
    assert_eq!(code, 0, "{out}{errs}");
}

fn compliance_time(from_now_ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    compliance::time::format_time(i64::try_from(now).unwrap() + from_now_ms)
}
