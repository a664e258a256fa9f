//! `compliance_loadgen`: load generator for the compliance API of
//! `stateanchor-log` (the benchmarks in `docs/benchmarks.md`, "Compliance").
//!
//! 1. Creates a project with a `ci` and an `auditor` principal (admin key).
//! 2. Submits `--decisions` gate decisions over `--connections` keep-alive
//!    connections (each with one ERR finding, so the gate consults the
//!    ledger) and reports sustained decisions/s and latency percentiles.
//!    `--url` may be given several times (frontends of one log in the
//!    PostgreSQL mode): connection `w` goes to URL `w mod n`, and with
//!    `--projects K` to project `(w / n) mod K`, so every project is
//!    written through every frontend. A 409 (a record fenced because two
//!    frontends wrote one project at once) is counted and retried.
//! 3. Unless `--no-export`: downloads today's compliance export (`--format`),
//!    reports its time and size, and, with `--server-pid`, the server's
//!    resident memory before and at its peak during the export.
//!
//! Example:
//!   compliance_loadgen --url http://127.0.0.1:8080 --key-file data/admin-api-key --decisions 100000 --connections 64 --server-pid $(pidof stateanchor-log)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

struct Args {
    url: String,
    urls: Vec<String>,
    projects: usize,
    key: String,
    decisions: u64,
    connections: usize,
    export: bool,
    format: String,
    server_pid: Option<u32>,
    project: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        urls: Vec::new(),
        projects: 1,
        key: String::new(),
        decisions: 100_000,
        connections: 64,
        export: true,
        format: "json".into(),
        server_pid: None,
        project: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-export" {
            a.export = false;
            continue;
        }
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.urls.push(v.trim_end_matches('/').to_owned()),
            "--projects" => a.projects = v.parse()?,
            "--key" => a.key = v,
            "--key-file" => a.key = std::fs::read_to_string(&v)?.trim().to_owned(),
            "--decisions" => a.decisions = v.parse()?,
            "--connections" => a.connections = v.parse()?,
            "--format" => a.format = v,
            "--server-pid" => a.server_pid = Some(v.parse()?),
            "--project" => a.project = Some(v),
            other => bail!("unknown flag {other}"),
        }
    }
    if a.key.is_empty() {
        bail!("give the admin key with --key or --key-file");
    }
    if a.urls.is_empty() {
        a.urls.push(a.url.clone());
    }
    a.url = a.urls[0].clone();
    if a.projects == 0 || (a.project.is_some() && a.projects > 1) {
        bail!("--projects must be at least 1, and 1 with --project");
    }
    Ok(a)
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> Result<Value> {
    let resp = http.post(url).bearer_auth(key).json(body).send().await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    if !status.is_success() {
        bail!("{url}: {status} {v}");
    }
    Ok(v)
}

fn pct(sorted: &[u64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = parse_args()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.connections)
        .build()?;
    let mut projects = Vec::with_capacity(a.projects);
    for _ in 0..a.projects {
        projects.push(match &a.project {
            Some(p) => p.clone(),
            None => post(
                &http,
                &format!("{}/v1/admin/projects", a.url),
                &a.key,
                &json!({"name": "loadgen"}),
            )
            .await?["project_id"]
                .as_str()
                .context("no project_id")?
                .to_owned(),
        });
    }
    let principal = |project: String, roles: Value| {
        let (http, url, key) = (
            http.clone(),
            format!("{}/v1/admin/projects/{project}/principals", a.url),
            a.key.clone(),
        );
        async move {
            let v = post(
                &http,
                &url,
                &key,
                &json!({"name": format!("loadgen-{}", roles[0].as_str().unwrap_or("principal")), "roles": roles}),
            )
            .await?;
            Ok::<String, anyhow::Error>(v["api_key"].as_str().context("no api_key")?.to_owned())
        }
    };
    let mut cis = Vec::with_capacity(projects.len());
    for p in &projects {
        cis.push(principal(p.clone(), json!(["ci"])).await?);
    }
    let project = projects[0].clone();
    let auditor = principal(project.clone(), json!(["auditor"])).await?;
    println!(
        "projects: {}; frontends: {}",
        projects.join(" "),
        a.urls.join(" ")
    );

    let conflicts = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let pushbacks = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..a.connections {
        let n = a.urls.len();
        let k = (w / n) % projects.len();
        let (http, url, ci, next, pushbacks, failed, conflicts) = (
            http.clone(),
            format!("{}/api/projects/{}/decisions", a.urls[w % n], projects[k]),
            cis[k].clone(),
            next.clone(),
            pushbacks.clone(),
            failed.clone(),
            conflicts.clone(),
        );
        let total = a.decisions;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= total || failed.load(Relaxed) {
                    break;
                }
                let body = json!({
                    "commit_sha": format!("{i:040x}"),
                    "branch": format!("feature/{w}"),
                    "author": "loadgen",
                    "findings": [
                        {"kind": "response_field_removed", "endpoint": format!("GET /items/{}", i % 50), "severity": "ERR", "detail": "a field was removed"},
                        {"kind": "description_changed", "endpoint": "GET /items", "severity": "INFO", "detail": ""}
                    ],
                    "artifacts": [{"name": "openapi.yaml", "sha256": format!("{i:064x}")}]
                });
                loop {
                    let t = Instant::now();
                    let resp = http.post(url.as_str()).bearer_auth(&ci).json(&body).send().await;
                    match resp {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let _ = r.bytes().await;
                            lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                            break;
                        }
                        Ok(r) if r.status().as_u16() == 503 => {
                            pushbacks.fetch_add(1, Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Ok(r) if r.status().as_u16() == 409 => {
                            conflicts.fetch_add(1, Relaxed);
                        }
                        Ok(r) => {
                            eprintln!("decision failed: {} {}", r.status(), r.text().await.unwrap_or_default());
                            failed.store(true, Relaxed);
                            return lat;
                        }
                        Err(e) => {
                            eprintln!("decision failed: {e}");
                            failed.store(true, Relaxed);
                            return lat;
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    if failed.load(Relaxed) {
        bail!("decisions failed");
    }
    lat.sort_unstable();
    println!(
        "decisions: {} in {secs:.2} s = {:.0}/s over {} connections; latency ms p50 {:.2} p99 {:.2} max {:.2}; 503 pushbacks {}; 409 conflicts {}",
        lat.len(),
        lat.len() as f64 / secs,
        a.connections,
        pct(&lat, 50),
        pct(&lat, 99),
        pct(&lat, 100),
        pushbacks.load(Relaxed),
        conflicts.load(Relaxed)
    );
    if !a.export {
        return Ok(());
    }
    let before = a.server_pid.and_then(rss_kib);
    let peak = Arc::new(AtomicU64::new(before.unwrap_or(0)));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = a.server_pid.map(|pid| {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Relaxed) {
                if let Some(k) = rss_kib(pid) {
                    peak.fetch_max(k, Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    });
    let t = Instant::now();
    let mut resp = http
        .get(format!(
            "{}/api/projects/{project}/compliance-export?format={}",
            a.url, a.format
        ))
        .bearer_auth(&auditor)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("export: {} {}", resp.status(), resp.text().await?);
    }
    let name = resp
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let out_path = std::env::temp_dir().join("compliance-loadgen-export");
    let mut file = std::fs::File::create(&out_path)?;
    let mut bytes = 0u64;
    let mut first = None;
    while let Some(chunk) = resp.chunk().await? {
        first.get_or_insert_with(|| t.elapsed());
        bytes += chunk.len() as u64;
        std::io::Write::write_all(&mut file, &chunk)?;
    }
    let took = t.elapsed();
    sampling.store(false, Relaxed);
    if let Some(s) = sampler {
        let _ = s.join();
    }
    println!(
        "export: {name}: {:.1} MB in {:.2} s (first byte after {:.2} s), written to {}",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        first.unwrap_or_default().as_secs_f64(),
        out_path.display()
    );
    if let Some(b) = before {
        println!(
            "server RSS: {:.1} MiB before the export, peak {:.1} MiB during it",
            b as f64 / 1024.0,
            peak.load(Relaxed) as f64 / 1024.0
        );
    }
    Ok(())
}
