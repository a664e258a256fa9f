//! A publication repository (`spec/publication.md`): on GitHub, read
//! through the REST contents API, or a directory's files.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Url;
use serde_json::Value;

use super::file::read_file_limited;
use super::http::{Http, error_text};
use super::{MAX_CHECKPOINT, MAX_JSON};
use crate::report::hinted;

/// A publication repository.
#[allow(clippy::large_enum_variant)] // one per run
pub enum Repo {
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
    /// Parses `--repo`: `github:OWNER/NAME[/PREFIX]` (with the API URL and
    /// ref to read, and the token from `GITHUB_TOKEN`) or `dir:PATH`.
    ///
    /// # Errors
    /// Malformed names, prefixes and URLs; a missing directory.
    pub fn parse(
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

    /// Where `rel` is, for messages and evidence.
    pub fn describe(&self, rel: &str) -> String {
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
    ///
    /// # Errors
    /// Network and I/O errors; GitHub refusals, with a hint.
    pub fn read(&self, rel: &str) -> anyhow::Result<Option<(Vec<u8>, String)>> {
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
    ///
    /// # Errors
    /// Network and I/O errors; GitHub refusals; directories too large to list.
    pub fn list(&self, rel: &str) -> anyhow::Result<Option<Vec<String>>> {
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
