//! `published`: the split-view check. Every checkpoint in the publication
//! repository must be signed by the user's key, and all of them and the
//! log's current checkpoint must be mutually consistent.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Url;
use serde_json::{Map, Value, json};

use crate::cli::{KeyArgs, LogArgs};
use crate::commands::{
    Cp, current_checkpoint, describe_cp, load_key, open_verified, prove_extends,
};
use crate::fetch::{Http, Log, MAX_CHECKPOINT, MAX_JSON, error_text, read_file_limited};
use crate::outcome::{Ctx, Failure, Report, hinted};
use crate::proofs;
use crate::term::escape;

const CMD: &str = "published";

/// A publication repository.
#[allow(clippy::large_enum_variant)] // one per run
enum Repo {
    /// Read through the GitHub REST contents API.
    GitHub {
        api: Url,
        owner: String,
        name: String,
        prefix: String,
        git_ref: Option<String>,
        token: Option<String>,
        http: Http,
    },
    /// Read from a directory's files.
    Dir { root: PathBuf },
}

fn valid_github_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Percent-encodes one path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl Repo {
    fn parse(
        text: &str,
        github_api: &str,
        git_ref: Option<&str>,
        http: &Http,
    ) -> anyhow::Result<Self> {
        let usage = "give --repo github:OWNER/NAME[/PREFIX] or --repo dir:PATH";
        if let Some(rest) = text.strip_prefix("github:") {
            let mut parts = rest.splitn(3, '/');
            let owner = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            let prefix = parts.next().unwrap_or_default().trim_matches('/');
            if !valid_github_name(owner) || !valid_github_name(name) {
                return Err(hinted(
                    format!("--repo {text:?}: not a GitHub OWNER/NAME"),
                    usage,
                ));
            }
            if prefix.split('/').any(|p| p == ".." || p == ".") {
                return Err(hinted(
                    format!("--repo {text:?}: the prefix must not hold . or .."),
                    usage,
                ));
            }
            let mut api = Url::parse(github_api).map_err(|e| {
                hinted(
                    format!("--github-api {github_api:?} is not a valid URL: {e}"),
                    "the default is https://api.github.com",
                )
            })?;
            if !api.path().ends_with('/') {
                let p = format!("{}/", api.path());
                api.set_path(&p);
            }
            return Ok(Repo::GitHub {
                api,
                owner: owner.into(),
                name: name.into(),
                prefix: prefix.into(),
                git_ref: git_ref.map(str::to_owned),
                token: std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()),
                http: http.clone(),
            });
        }
        if let Some(path) = text.strip_prefix("dir:") {
            let root = PathBuf::from(path);
            if !root.is_dir() {
                return Err(hinted(
                    format!("--repo {text:?}: {path} is not a directory"),
                    usage,
                ));
            }
            return Ok(Repo::Dir { root });
        }
        Err(hinted(
            format!("--repo {text:?} is not a publication repository"),
            usage,
        ))
    }

    fn describe(&self, rel: &str) -> String {
        match self {
            Repo::GitHub {
                owner,
                name,
                prefix,
                ..
            } => {
                let p = if prefix.is_empty() {
                    rel.to_owned()
                } else {
                    format!("{prefix}/{rel}")
                };
                format!("github:{owner}/{name}/{p}")
            }
            Repo::Dir { root } => root.join(rel).display().to_string(),
        }
    }

    /// GETs the contents API for `rel`; `None` on 404.
    fn contents(&self, rel: &str) -> anyhow::Result<Option<Value>> {
        let Repo::GitHub {
            api,
            owner,
            name,
            prefix,
            git_ref,
            token,
            http,
        } = self
        else {
            bail!("unreachable: not a GitHub repository");
        };
        let full = if prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{prefix}/{rel}")
        };
        let path: Vec<String> = full
            .split('/')
            .filter(|s| !s.is_empty())
            .map(encode_segment)
            .collect();
        let mut url = api
            .join(&format!("repos/{owner}/{name}/contents/{}", path.join("/")))
            .context("building the GitHub API URL")?;
        if let Some(r) = git_ref {
            url.query_pairs_mut().append_pair("ref", r);
        }
        let mut headers = vec![
            ("accept", "application/vnd.github+json".to_owned()),
            ("x-github-api-version", "2022-11-28".to_owned()),
        ];
        if let Some(t) = token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        let resp = http.get(&url, MAX_JSON, &headers)?;
        match resp.status {
            200 => Ok(Some(
                serde_json::from_slice(&resp.body)
                    .with_context(|| format!("GET {url}: response is not JSON"))?,
            )),
            404 => Ok(None),
            s @ (401 | 403 | 429) => Err(hinted(
                format!("GET {url}: HTTP {s}: {}", error_text(&resp.body)),
                "set GITHUB_TOKEN to a token that can read the repository (this also lifts the rate limit)",
            )),
            s => bail!("GET {url}: HTTP {s}: {}", error_text(&resp.body)),
        }
    }

    /// Reads file `rel`; `None` if there is none.
    fn read(&self, rel: &str) -> anyhow::Result<Option<(Vec<u8>, String)>> {
        let source = self.describe(rel);
        match self {
            Repo::Dir { root } => {
                Ok(read_file_limited(&root.join(rel), MAX_CHECKPOINT)?.map(|b| (b, source)))
            }
            Repo::GitHub { .. } => {
                let Some(v) = self.contents(rel)? else {
                    return Ok(None);
                };
                if v.get("type").and_then(Value::as_str) != Some("file") {
                    bail!("{source} is not a file in the repository");
                }
                if v.get("encoding").and_then(Value::as_str) != Some("base64") {
                    bail!(
                        "{source}: the contents API did not return it base64-encoded (is it over 1 MB?)"
                    );
                }
                let content: String = v
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                let bytes = B64.decode(content).with_context(|| {
                    format!("{source}: the contents API returned invalid base64")
                })?;
                Ok(Some((bytes, source)))
            }
        }
    }

    /// Names of the files in directory `rel`; `None` if there is no such directory.
    fn list(&self, rel: &str) -> anyhow::Result<Option<Vec<String>>> {
        match self {
            Repo::Dir { root } => {
                let dir = root.join(rel);
                let rd = match std::fs::read_dir(&dir) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
                };
                let mut names = Vec::new();
                for entry in rd {
                    let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
                    if entry.file_type()?.is_file() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                Ok(Some(names))
            }
            Repo::GitHub { .. } => {
                let Some(v) = self.contents(rel)? else {
                    return Ok(None);
                };
                let arr = v.as_array().ok_or_else(|| {
                    anyhow!(
                        "{} is not a directory in the repository",
                        self.describe(rel)
                    )
                })?;
                if arr.len() >= 1000 {
                    return Err(hinted(
                        format!(
                            "{} lists {} files: the contents API shows at most 1,000",
                            self.describe(rel),
                            arr.len()
                        ),
                        "check a local clone instead: --repo dir:PATH",
                    ));
                }
                Ok(Some(
                    arr.iter()
                        .filter(|e| e.get("type").and_then(Value::as_str) == Some("file"))
                        .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_owned))
                        .collect(),
                ))
            }
        }
    }
}

/// A canonical decimal tree size: digits, no leading zeros.
fn parse_size(name: &str) -> Option<u64> {
    if name.is_empty()
        || !name.bytes().all(|b| b.is_ascii_digit())
        || (name.len() > 1 && name.starts_with('0'))
    {
        return None;
    }
    name.parse().ok()
}

/// Runs `published`.
///
/// # Errors
/// A [`Failure`] for a bad or inconsistent publication; network and I/O errors.
pub fn run(
    ctx: &Ctx,
    key: &KeyArgs,
    log_args: &LogArgs,
    repo_text: &str,
    github_api: &str,
    github_ref: Option<&str>,
) -> anyhow::Result<Report> {
    let key = load_key(key)?;
    let log = Log::parse(&log_args.log, &ctx.http)?;
    proofs::check_usage(&log, log_args.proof_source)?;
    let log_text = log_args.log.as_str();
    let repo = Repo::parse(repo_text, github_api, github_ref, &ctx.http)?;
    let mut warnings: Vec<String> = Vec::new();
    let base = |check: &'static str, msg: String| Failure::new(CMD, check, msg).log(log_text, &key);

    // Step 1: log.json, if any, must name the key the user trusts.
    if let Some((bytes, src)) = repo.read("log.json")? {
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            base("log.json", format!("{src} is not JSON: {e}")).data("log.json", &src, &bytes)
        })?;
        let named_key = v.get("verifier_key").and_then(Value::as_str);
        let named_origin = v.get("origin").and_then(Value::as_str);
        if named_key.is_some_and(|k| k.trim() != key.to_text())
            || named_origin.is_some_and(|o| o != key.name())
        {
            return Err(base(
                "log.json",
                format!(
                    "{src} names another log (origin {:?}, key {:?}) than the verifier key given ({})",
                    named_origin.unwrap_or(""),
                    named_key.unwrap_or(""),
                    key.to_text()
                ),
            )
            .data("log.json", &src, &bytes)
            .into());
        }
        if named_key.is_none() {
            warnings.push(format!("{src} names no verifier_key"));
        }
    } else {
        warnings.push(format!("{} does not exist", repo.describe("log.json")));
    }

    // Step 2: every archived checkpoint is signed by the key and filed under its size.
    let mut published: BTreeMap<u64, Cp> = BTreeMap::new();
    let names = repo.list("checkpoints")?;
    let latest = repo.read("checkpoint")?;
    if names.is_none() && latest.is_none() {
        return Err(hinted(
            format!(
                "no publication at {}: neither checkpoint nor checkpoints/ exist",
                repo.describe("")
            ),
            "check --repo (and the PREFIX after OWNER/NAME)",
        ));
    }
    let mut names: Vec<(u64, String)> = names
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| match parse_size(&n) {
            Some(s) => Some((s, n)),
            None => {
                warnings.push(format!(
                    "ignored {}: not a tree size",
                    repo.describe(&format!("checkpoints/{n}"))
                ));
                None
            }
        })
        .collect();
    names.sort_unstable();
    for (size, name) in &names {
        let rel = format!("checkpoints/{name}");
        let (bytes, src) = repo
            .read(&rel)?
            .ok_or_else(|| anyhow!("{} was listed but cannot be read", repo.describe(&rel)))?;
        let cp = open_verified(
            CMD,
            &format!("published {rel}"),
            bytes,
            src,
            &key,
            Some(log_text),
        )?;
        if cp.size() != *size {
            return Err(base(
                "published",
                format!(
                    "{} holds a checkpoint of tree size {}, not {size}",
                    cp.source,
                    cp.size()
                ),
            )
            .checkpoint(format!("published {rel}"), &cp.source, &cp.bytes)
            .into());
        }
        published.insert(*size, cp);
    }
    // Step 3: the latest checkpoint agrees with the archive.
    let mut latest_size = None;
    if let Some((bytes, src)) = latest {
        let cp = open_verified(CMD, "published latest", bytes, src, &key, Some(log_text))?;
        latest_size = Some(cp.size());
        match published.get(&cp.size()) {
            Some(archived) if archived.root() != cp.root() => {
                return Err(base(
                    "fork",
                    format!(
                        "fork: {} and {} are different checkpoints of tree size {}",
                        cp.source,
                        archived.source,
                        cp.size()
                    ),
                )
                .checkpoint("published latest", &cp.source, &cp.bytes)
                .checkpoint("published archive", &archived.source, &archived.bytes)
                .into());
            }
            Some(_) => {}
            None => {
                warnings.push(format!(
                    "{} (tree size {}) is not in checkpoints/",
                    cp.source,
                    cp.size()
                ));
                published.insert(cp.size(), cp);
            }
        }
        if let Some((&max, _)) = published.last_key_value()
            && Some(max) != latest_size
        {
            warnings.push(format!(
                "{} has tree size {}, but checkpoints/ holds a larger one ({max})",
                repo.describe("checkpoint"),
                latest_size.unwrap_or(0)
            ));
        }
    } else {
        warnings.push(format!("{} does not exist", repo.describe("checkpoint")));
    }

    // Step 4: the log's current checkpoint extends every published one.
    let current = current_checkpoint(CMD, &log, log_text, &key)?;
    let needs_proof = published.keys().any(|&s| s > 0 && s < current.size());
    let source = if needs_proof {
        proofs::choose(&log, log_args.proof_source)?
    } else {
        proofs::Source::Tiles
    };
    let mut proofs_checked = 0u64;
    for p in published.values() {
        if prove_extends(CMD, &log, log_text, &key, source, p, &current)?.is_some() {
            proofs_checked += 1;
        }
    }

    let mut text = format!(
        "verified: {} published checkpoints are signed by the key and consistent with the log\n",
        published.len()
    );
    describe_cp(
        &mut text,
        "log's current checkpoint (signature verified)",
        &current,
    );
    let sizes: Vec<u64> = published.keys().copied().collect();
    let _ = writeln!(text, "repository:      {}", escape(&repo.describe("")));
    let _ = writeln!(
        text,
        "published sizes: {}",
        match (sizes.first(), sizes.last()) {
            (Some(a), Some(b)) => format!("{a} .. {b} ({} checkpoints)", sizes.len()),
            _ => "none".into(),
        }
    );
    let _ = writeln!(
        text,
        "proofs:          {proofs_checked} consistency proofs verified{}",
        if proofs_checked > 0 {
            format!(", {}", source.describe())
        } else {
            String::new()
        }
    );
    for w in &warnings {
        let _ = writeln!(text, "warning: {}", escape(w));
    }
    let mut json = Map::new();
    json.insert("repository".into(), json!(repo.describe("")));
    json.insert("log_checkpoint".into(), current.json());
    json.insert("published_sizes".into(), json!(sizes));
    json.insert("latest_published_size".into(), json!(latest_size));
    json.insert("consistency_proofs_verified".into(), json!(proofs_checked));
    json.insert("proof_source".into(), json!(source.name()));
    json.insert("warnings".into(), json!(warnings));
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}
