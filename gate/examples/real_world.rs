//! The gate engine on real specs, in one process (scripts/gate-real-world.sh
//! runs it; docs/gate-real-world.md and docs/benchmarks.md report it).
//!
//! ```text
//! cargo run --release -p gate --example real_world -- sweep [--max-mib N] [FILE...]
//! cargo run --release -p gate --example real_world -- time [--max-mib N] BASE REVISION
//! ```
//!
//! `sweep` (files as arguments, or one a line on stdin) opens each file twice (as the command line does for `diff F F`),
//! diffs it with itself, and prints one line per file that fails to open or
//! gives a finding, then the counts and the time spent opening and diffing.
//! `time` prints the time of each phase of one diff. `--max-mib` raises the
//! per-file limit (default 16 MiB, the server's) and scales the node budget
//! with it, for the few documents larger than that.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use gate::{Config, Date, Document, Limits, NoFiles};

fn limits(max_mib: Option<usize>) -> Limits {
    let mut l = Limits::default();
    if let Some(mib) = max_mib {
        let d = Limits::DEFAULT_MAX_DOCUMENT_BYTES;
        l.max_document_bytes = mib * 1024 * 1024;
        l.max_total_bytes = l.max_total_bytes.max(l.max_document_bytes);
        l.max_nodes = l.max_nodes.saturating_mul(l.max_document_bytes.div_ceil(d));
    }
    l
}

fn open(path: &str, limits: &Limits) -> Result<Document, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    Document::from_bytes(&bytes, path, &NoFiles, limits).map_err(|e| e.to_string())
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut max_mib = None;
    if let Some(i) = args.iter().position(|a| a == "--max-mib") {
        max_mib = args.get(i + 1).and_then(|s| s.parse::<usize>().ok());
        if max_mib.is_none() {
            eprintln!("--max-mib takes a number");
            return ExitCode::from(2);
        }
        args.drain(i..=i + 1);
    }
    let limits = limits(max_mib);
    let today = Date::from_days_since_epoch(20_422); // 2025-11-30: fixed, so runs compare
    let config = Config::default();
    match args.first().map(String::as_str) {
        Some("sweep") => {
            let (mut ok, mut swagger, mut errors, mut dirty) = (0, 0, 0, 0);
            let (mut t_open, mut t_diff) = (Duration::ZERO, Duration::ZERO);
            let mut files: Vec<String> = args[1..].to_vec();
            if files.is_empty() {
                // One name a line on stdin (names may hold spaces).
                files = std::io::read_to_string(std::io::stdin())
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            for f in &files {
                let t = Instant::now();
                let opened = open(f, &limits).and_then(|b| Ok((b, open(f, &limits)?)));
                t_open += t.elapsed();
                let (b, r) = match opened {
                    Ok(x) => x,
                    Err(e) if e.contains("Swagger 2.0 is not supported") => {
                        swagger += 1;
                        continue;
                    }
                    Err(e) => {
                        errors += 1;
                        println!("error {f}: {e}");
                        continue;
                    }
                };
                let t = Instant::now();
                let report = gate::diff(&b, &r, &config, today);
                t_diff += t.elapsed();
                if report.findings.is_empty() {
                    ok += 1;
                } else {
                    dirty += 1;
                    println!(
                        "findings {f}: {} (first: {} {} {})",
                        report.findings.len(),
                        report.findings[0].rule,
                        report.findings[0].endpoint,
                        report.findings[0].subject
                    );
                }
            }
            println!(
                "documents {}: ok {ok}, swagger 2.0 refused {swagger}, errors {errors}, self-diff with findings {dirty}; opening (twice each) {}, diffing {}",
                files.len(),
                secs(t_open),
                secs(t_diff)
            );
            if errors + dirty > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Some("time") if args.len() == 3 => {
            let t = Instant::now();
            let b = match open(&args[1], &limits) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let t_b = t.elapsed();
            let t = Instant::now();
            let r = match open(&args[2], &limits) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let t_r = t.elapsed();
            let t = Instant::now();
            let report = gate::diff(&b, &r, &config, today);
            let t_d = t.elapsed();
            let t = Instant::now();
            let json = gate::report::render(&report, gate::report::Format::Json);
            let t_j = t.elapsed();
            println!(
                "open base {}, open revision {}, diff (with locations) {}, render JSON {} ({} bytes), findings {}",
                secs(t_b),
                secs(t_r),
                secs(t_d),
                secs(t_j),
                json.len(),
                report.findings.len()
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: real_world sweep [--max-mib N] FILE... | real_world time [--max-mib N] BASE REVISION"
            );
            ExitCode::from(2)
        }
    }
}
