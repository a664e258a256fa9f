//! `stateanchor-loadgen`: a load generator for `stateanchor-log`.
//!
//! Modes:
//! - `append`: durable single-entry appends over N keep-alive connections for
//!   a duration; reports throughput, acknowledgement latency percentiles, and
//!   how long each acknowledged entry waited for a covering signed checkpoint.
//! - `proofs`: random inclusion proofs (by index) against the latest checkpoint.
//! - `tiles`: random full level-0 tiles.
//! - `fill`: appends until the tree has a given size (to prepare a big log).
//!
//! `--url` may be given more than once (frontends of one log): the
//! connections are spread over them in turn.
//!
//! Example:
//!   stateanchor-loadgen append --url http://127.0.0.1:8080 --key-file data/admin-api-key --connections 64 --duration 60s
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

// The load generator shares the server's two cores: it should cost little.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    mode: String,
    url: String,
    /// Every `--url` given: connection `i` goes to `urls[i % len]` (several
    /// frontends of one log in the PostgreSQL mode).
    urls: Vec<String>,
    key: Option<String>,
    connections: usize,
    duration: Duration,
    size: usize,
    target: u64,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it
        .next()
        .context("usage: stateanchor-loadgen <append|proofs|tiles|fill> [options]")?;
    let mut a = Args {
        mode,
        url: "http://127.0.0.1:8080".into(),
        urls: Vec::new(),
        key: None,
        connections: 64,
        duration: Duration::from_secs(60),
        size: 100,
        target: 0,
    };
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.urls.push(v.trim_end_matches('/').to_owned()),
            "--key" => a.key = Some(v),
            "--key-file" => a.key = Some(std::fs::read_to_string(&v)?.trim().to_owned()),
            "--connections" => a.connections = v.parse()?,
            "--duration" => a.duration = parse_duration(&v)?,
            "--size" => a.size = v.parse()?,
            "--target" => a.target = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if let Some(first) = a.urls.first() {
        a.url = first.clone();
    } else {
        a.urls.push(a.url.clone());
    }
    Ok(a)
}

fn parse_duration(s: &str) -> Result<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return Ok(Duration::from_millis(ms.parse()?));
    }
    if let Some(sec) = s.strip_suffix('s') {
        return Ok(Duration::from_secs(sec.parse()?));
    }
    Ok(Duration::from_secs(s.parse()?))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, count: usize, elapsed: Duration, lat: &mut [Duration]) {
    lat.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "{name}: {count} in {:.1} s = {rate:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        percentile(lat, 0.50).as_secs_f64() * 1e3,
        percentile(lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

/// One keep-alive HTTP/1.1 connection: hyper's connection-level client, with
/// no pool and no per-request URL parsing, so that the load generator spends
/// little of the two cores it shares with the server. Reconnects after an
/// error.
struct Conn {
    addr: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(url: &str) -> Result<Self> {
        let addr = url
            .strip_prefix("http://")
            .context("the load generator speaks plain http:// only")?
            .trim_end_matches('/')
            .to_owned();
        Ok(Conn { addr, sender: None })
    }

    /// Sends a request and reads the whole response.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes)> {
        let sender = match &mut self.sender {
            Some(s) => s,
            None => {
                let stream = tokio::net::TcpStream::connect(&self.addr).await?;
                stream.set_nodelay(true)?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                self.sender.insert(sender)
            }
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.addr);
        if let Some(key) = key {
            req = req
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .header(header::CONTENT_TYPE, "application/octet-stream");
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        let result = async {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn get(&mut self, path: &str) -> Result<(StatusCode, Bytes)> {
        self.send(Method::GET, path, None, Vec::new()).await
    }
}

async fn checkpoint_size(c: &mut Conn) -> Result<u64> {
    let (status, body) = c.get("/checkpoint").await?;
    anyhow::ensure!(status.is_success(), "GET /checkpoint: {status}");
    std::str::from_utf8(&body)?
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .context("malformed checkpoint")
}

async fn append(a: &Args, fill: bool) -> Result<()> {
    let key = a.key.clone().context("--key or --key-file is required")?;
    Conn::new(&a.url)?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    // (ack time since start, index) of every acknowledged append.
    let acks = Arc::new(Mutex::new(Vec::<(Duration, u64)>::with_capacity(2_000_000)));
    let lat = Arc::new(Mutex::new(Vec::<Duration>::with_capacity(2_000_000)));
    let errors = Arc::new(AtomicU64::new(0));
    let pushbacks = Arc::new(AtomicU64::new(0));
    // Checkpoint watcher: (time since start, checkpoint tree size). It has its
    // own stop flag: it keeps watching after the appends stop.
    let watcher_stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<(Duration, u64)>::new()));
    let watcher = {
        let (mut c, stop, seen) = (Conn::new(&a.url)?, watcher_stop.clone(), seen.clone());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                if let Ok(size) = checkpoint_size(&mut c).await
                    && size > last
                {
                    last = size;
                    seen.lock().await.push((start.elapsed(), size));
                }
                if stop.load(Relaxed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let target = a.target;
    let mut tasks = Vec::new();
    for w in 0..a.connections {
        let (mut c, key, stop, acks, lat, errors, pushbacks) = (
            Conn::new(&a.urls[w % a.urls.len()])?,
            key.clone(),
            stop.clone(),
            acks.clone(),
            lat.clone(),
            errors.clone(),
            pushbacks.clone(),
        );
        let size = a.size;
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut local_acks = Vec::new();
            let mut local_lat = Vec::new();
            while !stop.load(Relaxed) {
                let mut body = format!("loadgen w{w} n{n} ").into_bytes();
                body.resize(size.max(body.len()), b'.');
                n += 1;
                let t = Instant::now();
                let r = c.send(Method::POST, "/v1/entries", Some(&key), body).await;
                match r {
                    Ok((status, body)) if status == StatusCode::CREATED => {
                        let v: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let Some(index) = v["index"].as_u64() else {
                            errors.fetch_add(1, Relaxed);
                            continue;
                        };
                        local_lat.push(t.elapsed());
                        local_acks.push((start.elapsed(), index));
                        if fill && index + 1 >= target {
                            stop.store(true, Relaxed);
                        }
                    }
                    Ok((status, _)) if status == StatusCode::SERVICE_UNAVAILABLE => {
                        pushbacks.fetch_add(1, Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => {
                        errors.fetch_add(1, Relaxed);
                    }
                }
            }
            acks.lock().await.extend(local_acks);
            lat.lock().await.extend(local_lat);
        }));
    }
    if !fill {
        tokio::time::sleep(a.duration).await;
        stop.store(true, Relaxed);
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    // Let the watcher see the checkpoint covering the last acknowledgements.
    tokio::time::sleep(Duration::from_secs(3)).await;
    watcher_stop.store(true, Relaxed);
    watcher.await?;
    let mut lat = lat.lock().await;
    let n = lat.len();
    report("appends", n, elapsed, &mut lat);
    println!(
        "errors: {}, pushbacks (503): {}",
        errors.load(Relaxed),
        pushbacks.load(Relaxed)
    );
    let seen = seen.lock().await;
    let mut cover: Vec<Duration> = Vec::with_capacity(n);
    let mut uncovered = 0;
    for (t_ack, index) in acks.lock().await.iter() {
        // A checkpoint seen before the acknowledgement was recorded covers it at once.
        match seen.iter().find(|(_, size)| *size > *index) {
            Some((t, _)) => cover.push(t.saturating_sub(*t_ack)),
            None => uncovered += 1,
        }
    }
    cover.sort_unstable();
    println!(
        "checkpoint coverage after ack: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} checkpoints seen, {uncovered} acks not covered)",
        percentile(&cover, 0.5).as_secs_f64() * 1e3,
        percentile(&cover, 0.99).as_secs_f64() * 1e3,
        cover.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        seen.len()
    );
    Ok(())
}

async fn reads(a: &Args, tiles: bool) -> Result<()> {
    let size = checkpoint_size(&mut Conn::new(&a.url)?).await?;
    if size < 256 {
        bail!("the log has {size} entries; fill it first");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..a.connections {
        let (mut c, stop, errors, lat) = (
            Conn::new(&a.urls[w % a.urls.len()])?,
            stop.clone(),
            errors.clone(),
            lat.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // A cheap deterministic PRNG per task (xorshift).
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1);
            let mut local = Vec::new();
            while !stop.load(Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let path = if tiles {
                    let t = tlog::TileId {
                        level: 0,
                        index: x % (size / 256),
                        width: 256,
                    };
                    format!("/{}", t.path())
                } else {
                    format!("/v1/proof/inclusion?index={}&tree_size={size}", x % size)
                };
                let t = Instant::now();
                match c.get(&path).await {
                    Ok((status, _)) if status.is_success() => {
                        local.push(t.elapsed());
                    }
                    _ => {
                        errors.fetch_add(1, Relaxed);
                    }
                }
            }
            lat.lock().await.extend(local);
        }));
    }
    tokio::time::sleep(a.duration).await;
    stop.store(true, Relaxed);
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    let mut lat = lat.lock().await;
    let n = lat.len();
    report(
        if tiles {
            "full tiles"
        } else {
            "inclusion proofs"
        },
        n,
        elapsed,
        &mut lat,
    );
    println!("tree size {size}, errors: {}", errors.load(Relaxed));
    Ok(())
}

fn main() -> std::process::ExitCode {
    let run = || -> Result<()> {
        let a = parse_args()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            match a.mode.as_str() {
                "append" => append(&a, false).await,
                "fill" => append(&a, true).await,
                "proofs" => reads(&a, false).await,
                "tiles" => reads(&a, true).await,
                other => bail!("unknown mode {other}"),
            }
        })
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stateanchor-loadgen: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
