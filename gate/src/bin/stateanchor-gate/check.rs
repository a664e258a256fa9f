//! `check`: send both documents to a StateAnchor log, which classifies
//! them with this engine, records the decision in its public log, and
//! answers with the verdict against the project's exception ledger.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::input;

/// Arguments of `check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The log server, e.g. https://log.example.com.
    #[arg(long, value_name = "URL")]
    pub log: String,
    /// The project's ID (prj_...).
    #[arg(long, value_name = "ID")]
    pub project: String,
    /// The base document: a file, or git:REV:PATH (read with `git show REV:PATH`).
    #[arg(long, value_name = "BASE")]
    pub base: String,
    /// The revised document: a file, or git:REV:PATH.
    #[arg(long, value_name = "REVISION")]
    pub revision: String,
    /// The commit gated [default: $GITHUB_SHA, $CI_COMMIT_SHA, or `git rev-parse HEAD`].
    #[arg(long)]
    pub commit_sha: Option<String>,
    /// Its branch [default: $GITHUB_HEAD_REF, $GITHUB_REF_NAME, $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME,
    /// $CI_COMMIT_REF_NAME, or the current git branch].
    #[arg(long)]
    pub branch: Option<String>,
    /// Its author [default: the commit's author from git, $GITHUB_ACTOR or $GITLAB_USER_LOGIN].
    #[arg(long)]
    pub author: Option<String>,
    /// The developer's summary of the change, for the API changelog.
    #[arg(long)]
    pub summary: Option<String>,
    /// The environment variable holding the project's CI API key.
    #[arg(long, value_name = "NAME", default_value = "STATEANCHOR_API_KEY")]
    pub key_env: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// How many times to retry when the log answers 503 with Retry-After
    /// (it is busy: nothing was recorded). The n-th wait is the log's
    /// Retry-After doubled n-1 times (at most a minute), plus up to half of
    /// it again at random; all the waits together stop at 5 minutes.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub retries: u32,
}

/// The longest a single wait between retries lasts, whatever the log says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// The longest all the waits between retries last together.
const MAX_RETRY_TOTAL: Duration = Duration::from_secs(300);

/// How long to wait before retrying an answer, if it is a pushback: a 503
/// with a `Retry-After` in seconds (capped at [`MAX_RETRY_WAIT`]).
fn retry_after(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> Option<Duration> {
    if status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_WAIT))
}

/// `wait` plus a random part of up to half of it, so that the jobs pushed
/// back together do not come back together.
fn with_jitter(wait: Duration) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    // The standard library's randomly keyed hasher: enough randomness to
    // spread retries, without a dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half_ms = u64::try_from(wait.as_millis() / 2).unwrap_or(u64::MAX);
    wait + Duration::from_millis(random % (half_ms + 1))
}

/// How `check` prints the verdict.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum CheckFormat {
    /// For people.
    Text,
    /// The server's answer, with `proof_url`.
    Json,
    /// Text, plus `::error` annotations for what blocks (GitHub Actions).
    GithubActions,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn first(options: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    options.into_iter().flatten().next()
}

/// The commit, branch and author: the flags, else the CI's variables, else git.
fn provenance(a: &CheckArgs) -> Result<(String, String, String)> {
    let commit = first([
        a.commit_sha.clone(),
        env("GITHUB_SHA"),
        env("CI_COMMIT_SHA"),
        git(&["rev-parse", "HEAD"]),
    ])
    .context("no commit: give --commit-sha (not in a git repository, and no GITHUB_SHA or CI_COMMIT_SHA)")?;
    let branch = first([
        a.branch.clone(),
        env("GITHUB_HEAD_REF"),
        env("GITHUB_REF_NAME"),
        env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"),
        env("CI_COMMIT_REF_NAME"),
        git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"),
    ])
    .context("no branch: give --branch")?;
    let author = first([
        a.author.clone(),
        git(&["log", "-1", "--format=%an <%ae>", &commit]),
        env("GITHUB_ACTOR"),
        env("GITLAB_USER_LOGIN"),
    ])
    .context("no author: give --author")?;
    Ok((commit, branch, author))
}

fn file_name(spec: &str) -> String {
    spec.rsplit(['/', '\\', ':'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("openapi.yaml")
        .to_owned()
}

/// Runs `check`; returns the exit status (0 not blocked, 1 blocked).
pub fn run(a: &CheckArgs) -> Result<u8> {
    let key = env(&a.key_env).with_context(|| {
        format!(
            "the environment variable {} holds no API key (a `ci` key of the project)",
            a.key_env
        )
    })?;
    let limits = gate::Limits::default();
    let base = input::read_single(&a.base, &limits).context("base document")?;
    let revision = input::read_single(&a.revision, &limits).context("revision document")?;
    let (commit, branch, author) = provenance(a)?;
    let mut body = json!({
        "commit_sha": commit, "branch": branch, "author": author,
        "base_spec": base, "revision_spec": revision,
        "base_name": file_name(&a.base), "revision_name": file_name(&a.revision),
    });
    if let Some(s) = &a.summary {
        body["summary"] = json!(s);
    }
    let log = a.log.trim_end_matches('/');
    let url = format!("{log}/api/projects/{}/decisions", a.project);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .context("cannot build the HTTP client")?;
    let body = serde_json::to_vec(&body).context("encoding the request")?;
    let (mut attempt, mut waited) = (0u32, Duration::ZERO);
    let resp = loop {
        let resp = client
            .post(&url)
            .bearer_auth(&key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .with_context(|| format!("cannot reach the log at {log}"))?;
        let Some(wait) = retry_after(resp.status(), resp.headers()) else {
            break resp;
        };
        // Doubled on each further pushback: a burst that lasts minutes is
        // ridden out in a few attempts, not in many.
        let wait = with_jitter((wait * 2u32.saturating_pow(attempt)).min(MAX_RETRY_WAIT));
        if attempt >= a.retries || waited + wait > MAX_RETRY_TOTAL {
            break resp;
        }
        attempt += 1;
        waited += wait;
        eprintln!(
            "stateanchor-gate: the log is busy (503, nothing recorded); retry {attempt} of {} in {:.1} s",
            a.retries,
            wait.as_secs_f64()
        );
        std::thread::sleep(wait);
    };
    let status = resp.status();
    let text = resp.text().context("reading the log's answer")?;
    let mut answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let msg = answer["error"]
            .as_str()
            .map_or_else(|| answer.to_string(), str::to_owned);
        bail!("the log refused the decision ({status}): {msg}");
    }
    let blocked = answer["blocked"]
        .as_bool()
        .context("the log's answer has no verdict")?;
    let index = answer["log_index"].as_u64().unwrap_or_default();
    answer["proof_url"] = json!(format!("{log}/entries/{index}"));
    let out = match a.format {
        CheckFormat::Json => format!("{}\n", serde_json::to_string_pretty(&answer)?),
        CheckFormat::Text => text_report(&answer),
        CheckFormat::GithubActions => {
            let mut s = text_report(&answer);
            for r in answer["blocked_reasons"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                s.push_str(&format!(
                    "::error title=StateAnchor gate::{}\n",
                    gate::report::sanitize(r)
                        .replace('%', "%25")
                        .replace('\n', "%0A")
                ));
            }
            s
        }
    };
    crate::output::emit(&out)?;
    Ok(u8::from(blocked))
}

fn text_report(a: &Value) -> String {
    let strs = |k: &str| -> Vec<String> {
        a[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(gate::report::sanitize))
            .collect()
    };
    let mut s = format!(
        "verdict: {}{} (run {}, classified by the log's gate engine)\n",
        a["verdict"].as_str().unwrap_or("?"),
        if a["blocked"] == json!(true) {
            ", BLOCKED"
        } else {
            ", not blocked"
        },
        gate::report::sanitize(a["run_id"].as_str().unwrap_or("?"))
    );
    let findings = a["findings"].as_array().map_or(0, Vec::len);
    s.push_str(&format!("findings: {findings}\n"));
    for f in a["findings"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {:<4} {} {}: {}\n",
            f["severity"].as_str().unwrap_or("?"),
            gate::report::sanitize(f["endpoint"].as_str().unwrap_or("")),
            gate::report::sanitize(f["kind"].as_str().unwrap_or("")),
            gate::report::sanitize(f["detail"].as_str().unwrap_or(""))
        ));
    }
    for r in strs("blocked_reasons") {
        s.push_str(&format!("blocked: {r}\n"));
    }
    for e in strs("exceptions_applied") {
        s.push_str(&format!("exception applied: {e}\n"));
    }
    s.push_str(&format!(
        "proof: {} (log index {}); verify with:\n  stateanchor-verify inclusion --log {} --index {} --key-file log.vkey\n",
        a["proof_url"].as_str().unwrap_or(""),
        a["log_index"],
        a["proof_url"]
            .as_str()
            .and_then(|u| u.rsplit_once("/entries/"))
            .map_or("", |(l, _)| l),
        a["log_index"]
    ));
    s
}
