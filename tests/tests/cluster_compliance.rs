//! Compliance records of one project written through two frontends of one
//! log on PostgreSQL and object storage (issue 13): decisions and ledger
//! events from both at once get one gap-free sequence; each frontend sees
//! what the other recorded (an approval, a revocation, a change of
//! controls) before it evaluates; the export verifies. And the store's
//! fence: a record that does not follow the record it was evaluated after
//! is never stored. Runs under `scripts/test-services.sh`; without it,
//! every test here returns at once, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use compliance::record::RecordKind;
use integration_tests::cockpit::{csrf_of, find_in};
use integration_tests::ledger::{blocked_run, rfc3339_in};
use integration_tests::{
    Api, LogServer, bin, cluster_services_or_skip, new_cluster_log, psql, settled, two_frontends,
};
use log_server::storage::postgres::Postgres;
use log_server::storage::{NewEntry, NewRecord, Sequenced};
use serde_json::{Value, json};

fn decision(endpoint: &str) -> Value {
    json!({
        "commit_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "branch": "main",
        "author": "Alice Example <alice@example.com>",
        "findings": [{"kind": "response_field_removed", "endpoint": endpoint,
                      "severity": "ERR", "detail": "field id removed"}],
    })
}

#[test]
fn one_project_written_through_two_frontends() {
    if !cluster_services_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, db, _) = two_frontends(tmp.path());
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));

    // The project is made on A; its principals on B.
    let id = api_a.create_project(&a.admin_key, "payments-api");
    let principal = |body: Value| {
        let (st, v) = api_b.post(
            &format!("/v1/admin/projects/{id}/principals"),
            &a.admin_key,
            &body,
        );
        assert_eq!(st, 201, "{v}");
        v["api_key"].as_str().unwrap().to_owned()
    };
    let ci = principal(json!({"name": "ci", "roles": ["ci"]}));
    let alice = principal(json!({"name": "alice", "roles": ["codeowner"]}));
    let bob = principal(json!({"name": "bob", "roles": ["codeowner"]}));
    let decisions = format!("/api/projects/{id}/decisions");
    let exceptions = format!("/api/projects/{id}/exceptions");

    // Decisions through both frontends at once (two clients each), while
    // an exception is filed on A and approved on B.
    let per_client = 12;
    let ep = "GET /users/{id}";
    // The blocked run the exception is filed for, submitted through B and
    // named in a filing on A.
    let run = blocked_run(
        &api_b,
        &id,
        &ci,
        "abcdef0",
        &[("response_field_removed", ep)],
    );
    let (statuses, exc_id) = std::thread::scope(|s| {
        let clients: Vec<_> = [&a.url, &a.url, &b.url, &b.url]
            .into_iter()
            .enumerate()
            .map(|(n, url)| {
                let (ci, decisions) = (&ci, &decisions);
                s.spawn(move || {
                    let api = Api::at(url.clone());
                    (0..per_client)
                        .map(|i| {
                            let (st, v) =
                                api.post(decisions, ci, &decision(&format!("GET /c{n}/{i}")));
                            assert_eq!(st, 201, "client {n} decision {i}: {v}");
                            st
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let (st, v) = api_a.post(
            &exceptions,
            &alice,
            &json!({"run_id": run, "kind": "response_field_removed", "endpoint": ep,
                    "reason": "clients migrated", "expires_at": rfc3339_in(5)}),
        );
        assert_eq!(st, 201, "{v}");
        let exc = v["exception_id"].as_str().unwrap().to_owned();
        let (st, v) = api_b.post(
            &format!("{exceptions}/{exc}/signals"),
            &bob,
            &json!({"type": "codeowner_approval", "comment": "LGTM"}),
        );
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["status"], "ACTIVE");
        let statuses: Vec<u16> = clients
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (statuses, exc)
    });
    assert_eq!(statuses.len(), 4 * per_client);

    // A sees B's approval: the matching ERR passes through A.
    let (st, v) = api_a.post(&decisions, &ci, &decision(ep));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["blocked"], false, "{v}");
    assert_eq!(v["exceptions_applied"], json!([exc_id]));
    // A second approval on A is refused: A knows it is active.
    let (st, v) = api_a.post(
        &format!("{exceptions}/{exc_id}/signals"),
        &bob,
        &json!({"type": "codeowner_approval"}),
    );
    assert_eq!(st, 409, "{v}");
    // Revoked on A; B blocks at once.
    let (st, v) = api_a.post(
        &format!("{exceptions}/{exc_id}/revoke"),
        &alice,
        &json!({"reason": "rolled back"}),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = api_b.post(&decisions, &ci, &decision(ep));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["blocked"], true, "{v}");
    // A control changed on B binds A's next evaluation.
    let (st, v) = api_b.send(
        "PATCH",
        &format!("/v1/admin/projects/{id}/settings"),
        Some(&a.admin_key),
        Some(&json!({"max_exception_lifetime_seconds": 86_400})),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = api_a.post(
        &exceptions,
        &alice,
        &json!({"run_id": run, "kind": "response_field_removed", "endpoint": ep,
                "reason": "again", "expires_at": rfc3339_in(3)}),
    );
    assert_eq!(st, 400, "the new maximum lifetime applies on A: {v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("maximum exception lifetime"),
        "{v}"
    );
    // Reads on B show what A recorded.
    let (st, v) = api_b.get(&format!("{exceptions}/{exc_id}"), &alice);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "REVOKED", "{v}");

    // Both frontends monitor yesterday at once (as their daily schedules
    // do): the day is recorded once.
    let yesterday = &rfc3339_in(-1)[..10];
    let runs: Vec<(u16, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> = [&a.url, &b.url]
            .into_iter()
            .map(|url| {
                let key = &a.admin_key;
                s.spawn(move || {
                    Api::at(url.clone()).post(
                        "/v1/admin/monitor/run",
                        key,
                        &json!({"date": yesterday}),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (st, v) in &runs {
        assert_eq!(*st, 200, "{v}");
    }
    let already: Vec<bool> = runs
        .iter()
        .flat_map(|(_, v)| v["days"].as_array().unwrap().clone())
        .filter(|d| d["project"] == id.as_str())
        .map(|d| d["already_monitored"].as_bool().unwrap())
        .collect();
    assert_eq!(already.len(), 2, "{runs:?}");
    assert_eq!(already.iter().filter(|a| **a).count(), 1, "{runs:?}");

    // One sequence, without gaps or repeats: the project's creation, its
    // three principals (`principal_added`), the blocked run the exception
    // was filed for, 48 + 2 decisions, the exception's filing, signal,
    // activation and revocation, the change of controls, and one
    // monitoring run.
    let expected = 1 + 3 + 1 + 4 * per_client + 2 + 4 + 1 + 1;
    let row = psql(
        &db,
        &format!(
            "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM sa_records WHERE project = '{id}'"
        ),
    );
    assert_eq!(
        row,
        format!("{expected}|1|{expected}|{expected}"),
        "{}",
        psql(
            &db,
            &format!(
                "SELECT string_agg(kind, ',' ORDER BY seq) FROM sa_records WHERE project = '{id}'"
            )
        )
    );

    // The export (from B) holds every record and verifies against the log.
    let resp = api_b
        .http
        .get(format!("{}/api/projects/{id}/compliance-export", b.url))
        .bearer_auth(&a.admin_key)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let path = tmp.path().join("export.json");
    std::fs::write(&path, resp.bytes().unwrap()).unwrap();
    let out = Command::new(bin("stateanchor-verify"))
        .args(["export", path.to_str().unwrap(), "--key", &a.verifier_key])
        .args(["--log", &a.url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        // With the blocked run the exception was filed for.
        text.contains(&format!("{} gate decisions", 4 * per_client + 3)),
        "{text}"
    );
    // The chain in the records themselves: each carries the sequence number
    // it is stored at, and the digest of the record before it.
    assert!(
        text.contains(&format!(
            "chain: the period's records are seq 1 to {expected} of the project's chain, with no gap"
        )),
        "{text}"
    );
    let export: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let d = &export["section_d_audit_trail_integrity"];
    let mut records: Vec<&Value> = [
        "section_a_change_management",
        "section_b_exception_authorization",
        "section_c_control_changes",
    ]
    .iter()
    .flat_map(|s| export[*s].as_array().unwrap())
    .chain(d["chain"]["records"].as_array().unwrap())
    .map(|r| &r["record"])
    .collect();
    records.push(&d["export_record"]["record"]);
    records.sort_by_key(|r| r["seq"].as_u64().unwrap());
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    let last = u64::try_from(expected).unwrap() + 1;
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    for w in records.windows(2) {
        let (jcs, _) = compliance::record::seal(w[0]).unwrap();
        assert_eq!(
            w[1]["prev"].as_str(),
            Some(compliance::record::sha256_digest(&jcs).as_str()),
            "{}",
            w[1]["seq"]
        );
    }
    let ids = psql(
        &db,
        &format!("SELECT string_agg(id, ',' ORDER BY seq) FROM sa_records WHERE project = '{id}'"),
    );
    let exported: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, exported.join(","), "stored at the seq they carry");
}

fn record(project: &str, seq: u64, id: &str, follows: Option<&str>) -> NewRecord {
    NewRecord {
        project: project.into(),
        seq,
        time_ms: 1_000,
        id: id.into(),
        kind: RecordKind::GateDecision,
        exception: None,
        record: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        follows: follows.map(str::to_owned),
        project_row: None,
    }
}

fn sequence(pg: &Postgres, items: &[(&[u8], Option<&NewRecord>)]) -> Vec<Sequenced> {
    let entries: Vec<NewEntry<'_>> = items
        .iter()
        .map(|(data, record)| NewEntry {
            index: 0,
            data,
            leaf_hash: tlog::leaf_hash(data),
            record: *record,
        })
        .collect();
    pg.sequence(&entries).unwrap()
}

/// The store's fence and the writer claim, on PostgreSQL itself.
#[test]
fn a_record_is_stored_only_after_the_record_it_followed() {
    if !cluster_services_or_skip() {
        return;
    }
    let (db, _) = new_cluster_log();
    let pg = Postgres::connect(&db, Duration::from_secs(10)).unwrap();
    use Sequenced::{At, Fenced};

    // The first record follows nothing; one that claims to is fenced, and
    // so is one that claims to be first when it is not.
    let r1 = record("prj_a", 1, "run_1", None);
    let bad = record("prj_a", 1, "run_x", Some("run_0"));
    assert_eq!(
        sequence(&pg, &[(b"e0", Some(&bad)), (b"plain", None)]),
        [Fenced, At(0)]
    );
    assert_eq!(sequence(&pg, &[(b"e1", Some(&r1))]), [At(1)]);
    let first_again = record("prj_a", 2, "run_y", None);
    assert_eq!(sequence(&pg, &[(b"y", Some(&first_again))]), [Fenced]);

    // Two processes evaluated after run_1: the first to be sequenced wins;
    // the other, and everything it evaluated after, is fenced, in the same
    // batch and later ones, while other projects' entries go on.
    let mine = record("prj_a", 2, "run_2", Some("run_1"));
    let theirs = record("prj_a", 2, "run_2b", Some("run_1"));
    let theirs_next = record("prj_a", 3, "run_3b", Some("run_2b"));
    let other = record("prj_b", 1, "run_b1", None);
    assert_eq!(sequence(&pg, &[(b"e2", Some(&mine))]), [At(2)]);
    assert_eq!(
        sequence(
            &pg,
            &[
                (b"e2b", Some(&theirs)),
                (b"e3b", Some(&theirs_next)),
                (b"eb1", Some(&other)),
            ]
        ),
        [Fenced, Fenced, At(3)]
    );
    assert_eq!(sequence(&pg, &[(b"e3b", Some(&theirs_next))]), [Fenced]);
    let next = record("prj_a", 3, "run_3", Some("run_2"));
    assert_eq!(sequence(&pg, &[(b"e3", Some(&next))]), [At(4)]);
    // Nothing of a fenced record was stored: the entries are gap-free.
    assert_eq!(
        psql(
            &db,
            "SELECT string_agg(convert_from(data, 'UTF8'), ',' ORDER BY idx) FROM sa_entries"
        ),
        "plain,e1,e2,eb1,e3"
    );
    assert_eq!(
        psql(
            &db,
            "SELECT string_agg(id, ',' ORDER BY seq) FROM sa_records WHERE project = 'prj_a'"
        ),
        "run_1,run_2,run_3"
    );

    // The writer claim: one holder at a time, until released or lapsed;
    // a holder that waits is next in line, and the holder learns of it.
    let ttl = Duration::from_millis(600);
    let claim = |project: &str, holder: &str| {
        pg.claim_writer(project, holder, ttl)
            .unwrap()
            .map(|c| (c.last_seq, c.contended))
    };
    assert_eq!(claim("prj_a", "one"), Some((3, false)));
    assert_eq!(claim("prj_a", "two"), None, "two waits");
    assert_eq!(claim("prj_a", "one"), Some((3, true)), "renewed; two waits");
    assert_eq!(claim("prj_b", "two"), Some((1, false)));
    pg.release_writer("prj_a", "two").unwrap();
    assert_eq!(claim("prj_a", "two"), None, "not two's to release");
    pg.release_writer("prj_a", "one").unwrap();
    assert_eq!(claim("prj_a", "three"), None, "two is next in line");
    assert_eq!(claim("prj_a", "two"), Some((3, false)), "two's turn");
    assert_eq!(claim("prj_a", "one"), None);
    pg.release_writer("prj_a", "two").unwrap();
    assert_eq!(claim("prj_a", "one"), Some((3, false)), "one was next");
    // A claim lapses; so does a wish that is not repeated.
    assert_eq!(claim("prj_a", "three"), None);
    std::thread::sleep(ttl + Duration::from_millis(200));
    assert_eq!(claim("prj_a", "two"), Some((3, false)), "lapsed");
}

/// A frontend paused (SIGSTOP) while it writes a project, past its writer
/// claim: the other frontend takes the project over and goes on; when the
/// paused one resumes, what it had queued is fenced (409) or was stored
/// before the pause, never after another frontend's record. Every decision
/// acknowledged (201) is stored exactly once and nothing else is.
#[test]
fn a_paused_frontend_cannot_record_after_another_took_over() {
    if !cluster_services_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, db, _) = two_frontends(tmp.path());
    let api = Api::new(&a);
    let id = api.create_project(&a.admin_key, "p");
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{id}/principals"),
        &a.admin_key,
        &json!({"name": "ci", "roles": ["ci"]}),
    );
    assert_eq!(st, 201, "{v}");
    let ci = v["api_key"].as_str().unwrap().to_owned();
    let path = format!("/api/projects/{id}/decisions");

    let stop = std::sync::atomic::AtomicBool::new(false);
    let (results, paused_at) = std::thread::scope(|s| {
        let clients: Vec<_> = [&a.url, &a.url, &b.url, &b.url]
            .into_iter()
            .enumerate()
            .map(|(n, url)| {
                let (ci, path, stop) = (&ci, &path, &stop);
                s.spawn(move || {
                    let api = Api::at(url.clone());
                    let mut out = Vec::new();
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let (st, v) = api.post(path, ci, &decision(&format!("GET /c{n}/{i}")));
                        out.push((n, std::time::Instant::now(), st, v));
                        i += 1;
                    }
                    out
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(800));
        let pid = a.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-STOP", &pid])
                .status()
                .unwrap()
                .success()
        );
        let paused_at = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            Command::new("kill")
                .args(["-CONT", &pid])
                .status()
                .unwrap()
                .success()
        );
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let results: Vec<_> = clients
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (results, paused_at)
    });

    let mut acked = std::collections::BTreeSet::new();
    let mut fenced = 0;
    for (n, _, st, v) in &results {
        match st {
            201 => assert!(acked.insert(v["run_id"].as_str().unwrap().to_owned())),
            409 => fenced += 1,
            503 => {}
            _ => panic!("client {n}: {st} {v}"),
        }
    }
    // B went on while A was paused (after A's claim lapsed: 1 s).
    let during = results
        .iter()
        .filter(|(n, t, st, _)| {
            *n >= 2
                && *st == 201
                && *t > paused_at + Duration::from_millis(1_500)
                && *t < paused_at + Duration::from_secs(3)
        })
        .count();
    assert!(during > 0, "frontend B recorded nothing while A was paused");
    let stored: std::collections::BTreeSet<String> = psql(
        &db,
        &format!(
            "SELECT string_agg(id, ',') FROM sa_records WHERE project = '{id}' AND kind = 'gate_decision'"
        ),
    )
    .split(',')
    .map(str::to_owned)
    .collect();
    assert_eq!(
        stored, acked,
        "acknowledged decisions and stored ones differ"
    );
    let row = psql(
        &db,
        &format!("SELECT count(*), max(seq) FROM sa_records WHERE project = '{id}'"),
    );
    // The project's creation, its `ci` principal, the decisions.
    assert_eq!(
        row,
        format!("{0}|{0}", acked.len() + 2),
        "a gap or a repeat"
    );
    eprintln!(
        "{} decisions acknowledged, {fenced} fenced (409), {during} by B while A was paused",
        acked.len()
    );
}

/// A cockpit client of one frontend: no redirects followed, the session
/// cookie sent by hand, and the headers of a same-origin browser form.
struct Cockpit {
    url: String,
    http: reqwest::blocking::Client,
}

impl Cockpit {
    fn new(s: &LogServer) -> Self {
        Cockpit {
            url: s.url.clone(),
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// GET: the status, the `Location` and the body.
    fn get(&self, path: &str, cookie: Option<&str>) -> (u16, String, String) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        Self::answer(req.send().unwrap())
    }

    /// POST of a form, from this frontend's own origin.
    fn form(&self, path: &str, cookie: Option<&str>, body: &str) -> reqwest::blocking::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.url)
            .header("sec-fetch-site", "same-origin")
            .body(body.to_owned());
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().unwrap()
    }

    fn answer(resp: reqwest::blocking::Response) -> (u16, String, String) {
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, resp.text().unwrap())
    }

    /// Signs in: the `Cookie` header value of the new session.
    fn sign_in(&self, api_key: &str) -> String {
        let resp = self.form("/ui/signin", None, &format!("api_key={api_key}"));
        assert_eq!(resp.status().as_u16(), 303, "sign-in");
        let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = set.split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("sa_session=sas_"), "{set}");
        cookie
    }
}

/// The cockpit's sessions and share links are in PostgreSQL: a session
/// signed in on frontend A works on B and its sign-out on B ends it on A;
/// a share link created on A opens on B (its use recorded once, however
/// many frontends serve it within the hour), and revoked on B it is refused
/// on A.
#[test]
fn cockpit_sessions_and_share_links_work_across_frontends() {
    if !cluster_services_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, db, _) = two_frontends(tmp.path());
    let api = Api::new(&a);
    let id = api.create_project(&a.admin_key, "payments-api");
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{id}/principals"),
        &a.admin_key,
        &json!({"name": "audra", "roles": ["auditor"]}),
    );
    assert_eq!(st, 201, "{v}");
    let auditor = v["api_key"].as_str().unwrap().to_owned();
    let (ui_a, ui_b) = (Cockpit::new(&a), Cockpit::new(&b));
    let overview = format!("/ui/p/{id}");
    let settings = format!("/ui/p/{id}/settings");

    // Signed in on A, the session works on B.
    let cookie = ui_a.sign_in(&auditor);
    let (st, _, html) = ui_b.get(&overview, Some(&cookie));
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Protection summary") && html.contains("payments-api"));
    let (st, _, html) = ui_b.get(&settings, Some(&cookie));
    assert_eq!(st, 200);
    let token = csrf_of(&html);
    assert_eq!(
        csrf_of(&ui_a.get(&settings, Some(&cookie)).2),
        token,
        "one session, one form token"
    );

    // A link created on A opens on B, and on both at once: one use record.
    let resp = ui_a.form(
        &format!("/ui/p/{id}/shares"),
        Some(&cookie),
        &format!("csrf={token}&days=1"),
    );
    let (st, _, html) = Cockpit::answer(resp);
    assert_eq!(st, 200, "{html}");
    let link = format!("/share/sat_{}", find_in(&html, "/share/sat_", '"'));
    let (st, _, view) = ui_b.get(&link, None);
    assert_eq!(st, 200, "{view}");
    assert!(view.contains("payments-api"));
    std::thread::scope(|s| {
        for ui in [&ui_a, &ui_b, &ui_a, &ui_b, &ui_a, &ui_b] {
            let link = &link;
            s.spawn(move || assert_eq!(ui.get(link, None).0, 200));
        }
    });
    let used = || {
        settled(|| {
            psql(
                &db,
                &format!(
                    "SELECT count(*) FROM sa_records WHERE project = '{id}' AND kind = 'share_token_used'"
                ),
            )
        })
    };
    assert_eq!(
        used(),
        "1",
        "a use is recorded once an hour, whichever frontend"
    );

    // Revoked on B, it is refused on A (and B).
    let (st, _, html) = ui_b.get(&settings, Some(&cookie));
    assert_eq!(st, 200);
    let share_id = format!("shr_{}", find_in(&html, "/shares/shr_", '/'));
    let resp = ui_b.form(
        &format!("/ui/p/{id}/shares/{share_id}/revoke"),
        Some(&cookie),
        &format!("csrf={token}"),
    );
    assert_eq!(resp.status().as_u16(), 303, "{}", resp.text().unwrap());
    assert_eq!(ui_a.get(&link, None).0, 404);
    assert_eq!(ui_b.get(&link, None).0, 404);
    // A second revocation, on A: already revoked.
    let resp = ui_a.form(
        &format!("/ui/p/{id}/shares/{share_id}/revoke"),
        Some(&cookie),
        &format!("csrf={token}"),
    );
    assert_eq!(resp.status().as_u16(), 409);

    // Signed out on B, the cookie is refused on A.
    let resp = ui_b.form("/ui/signout", Some(&cookie), &format!("csrf={token}"));
    assert_eq!(resp.status().as_u16(), 303);
    let (st, location, _) = ui_a.get(&overview, Some(&cookie));
    assert_eq!((st, location.as_str()), (303, "/ui/signin"));
    assert_eq!(ui_b.get(&overview, Some(&cookie)).0, 303);
}

/// A change of a project's controls is saved with its record in one
/// transaction: a record that carries the project's row updates it when
/// it is stored, and a fenced one (evaluated against a state that is no
/// longer the project's) leaves the row as it was, so that no frontend
/// sees the record without its controls, or the controls without it.
#[test]
fn settings_are_saved_with_their_record_in_one_transaction() {
    use compliance::ledger::{ProjectRow, ProjectSettings};
    use log_server::storage::RecordStore as _;
    if !cluster_services_or_skip() {
        return;
    }
    let (db, _) = new_cluster_log();
    let pg = Postgres::connect(&db, Duration::from_secs(10)).unwrap();
    let row = |lifetime: u64| ProjectRow {
        id: "prj_s".into(),
        name: "s".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        settings: ProjectSettings {
            max_exception_lifetime_seconds: lifetime,
            ..ProjectSettings::default()
        },
    };
    pg.put_project(&row(100)).unwrap();
    let mut first = record("prj_s", 1, "evt_1", None);
    first.kind = RecordKind::ProjectSettingsChanged;
    first.project_row = Some(Box::new(row(200)));
    assert_eq!(sequence(&pg, &[(b"s1", Some(&first))]), [Sequenced::At(0)]);
    assert_eq!(
        pg.project("prj_s").unwrap(),
        Some(row(200)),
        "saved with it"
    );
    // Fenced (it claims to follow a record that is not the last): neither
    // the record nor the row.
    let mut stale = record("prj_s", 2, "evt_2", Some("evt_0"));
    stale.kind = RecordKind::ProjectSettingsChanged;
    stale.project_row = Some(Box::new(row(300)));
    assert_eq!(sequence(&pg, &[(b"s2", Some(&stale))]), [Sequenced::Fenced]);
    assert_eq!(pg.project("prj_s").unwrap(), Some(row(200)), "not saved");
    assert_eq!(pg.last_record("prj_s").unwrap().map(|(s, _)| s), Some(1));
}
