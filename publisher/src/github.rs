//! The `github:` target: a GitHub repository written through the REST
//! contents API (octocrab), with the `sha` precondition on every update.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use octocrab::Octocrab;
use octocrab::models::repos::CommitAuthor;
use octocrab::service::middleware::retry::RetryConfig;

use crate::publish::{Publication, Snapshot, Store, Written};
use crate::retry::{Attempt, RetryPolicy, rate_limit_wait, unix_now, with_retries};
use crate::target::{Layout, history_message, log_json_message, readme_message};
use crate::{AUTHOR_EMAIL, AUTHOR_NAME, Error};

/// Where and how to reach GitHub.
#[derive(Clone, PartialEq, Eq)]
pub struct GitHubConfig {
    /// The REST API's base URL: `https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server.
    pub api_url: String,
    /// The token (fine-grained: "Contents: Read and write" on the
    /// repository), if there is one.
    pub token: Option<String>,
    /// Where the token came from, named in error messages (e.g.
    /// `GITHUB_TOKEN`).
    pub token_var: String,
}

impl std::fmt::Debug for GitHubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubConfig")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_var", &self.token_var)
            .finish()
    }
}

impl Default for GitHubConfig {
    fn default() -> Self {
        GitHubConfig {
            api_url: "https://api.github.com".to_owned(),
            token: None,
            token_var: "GITHUB_TOKEN".to_owned(),
        }
    }
}

impl GitHubConfig {
    /// The default API URL, with the token read from environment variable
    /// `var` (an empty variable counts as unset).
    #[must_use]
    pub fn from_env(var: &str) -> Self {
        GitHubConfig {
            token: std::env::var(var).ok().filter(|t| !t.trim().is_empty()),
            token_var: var.to_owned(),
            ..GitHubConfig::default()
        }
    }
}

/// The `sha`s (blob IDs) of the files read, for the preconditions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shas {
    checkpoint: Option<String>,
    log_json: Option<String>,
    readme: Option<String>,
}

/// A GitHub repository as a publication store.
pub(crate) struct GitHubStore {
    crab: Octocrab,
    owner: String,
    name: String,
    layout: Layout,
    policy: RetryPolicy,
    token_var: String,
}

/// The result of a `PUT` with a precondition.
enum Put {
    Done {
        commit: Option<String>,
    },
    /// 409, or 422 about the `sha`: the file is not as read.
    Conflict,
}

impl GitHubStore {
    /// Builds the client and checks that the repository exists and the token
    /// may push to it.
    pub(crate) async fn connect(
        owner: &str,
        name: &str,
        prefix: &str,
        cfg: &GitHubConfig,
        policy: &RetryPolicy,
    ) -> Result<Self, Error> {
        let token = cfg.token.clone().ok_or_else(|| Error::MissingToken {
            var: cfg.token_var.clone(),
        })?;
        let api = cfg.api_url.trim_end_matches('/');
        let crab = Octocrab::builder()
            // Retries are ours (with backoff and a cap on waits), not octocrab's.
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(policy.request_timeout))
            .set_read_timeout(Some(policy.request_timeout))
            .base_uri(api)
            .map_err(|e| Error::InvalidTarget {
                target: format!("--github-api {api} ({e})"),
                reason: "not a valid URL",
            })?
            .personal_token(token)
            .build()
            .map_err(|e| Error::Transport {
                operation: "build the GitHub client".to_owned(),
                source: e.into(),
            })?;
        let store = GitHubStore {
            crab,
            owner: owner.to_owned(),
            name: name.to_owned(),
            layout: Layout::new(prefix),
            policy: policy.clone(),
            token_var: cfg.token_var.clone(),
        };
        store.preflight().await?;
        Ok(store)
    }

    fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Sorts an octocrab error: retry (5xx, rate limits, transport), or fail
    /// with the error that names the fix (401, 403, other 4xx). 404 and
    /// conflicts are handled by the callers first.
    fn classify(&self, operation: &str, err: octocrab::Error) -> Attempt {
        let gh = match err {
            octocrab::Error::GitHub { source, .. } => source,
            octocrab::Error::Service { .. }
            | octocrab::Error::Hyper { .. }
            | octocrab::Error::Http { .. } => {
                return Attempt::Retry {
                    after: None,
                    error: Error::Transport {
                        operation: operation.to_owned(),
                        source: err.into(),
                    },
                };
            }
            other => {
                return Attempt::Fail(Error::BadResponse {
                    operation: operation.to_owned(),
                    reason: other.to_string(),
                });
            }
        };
        let status = gh.status_code.as_u16();
        let wait = gh
            .headers
            .as_ref()
            .and_then(|h| rate_limit_wait(h, unix_now()));
        let github = || Error::GitHub {
            operation: operation.to_owned(),
            status,
            message: gh.message.clone(),
        };
        match status {
            401 => Attempt::Fail(Error::GitHubUnauthorized {
                repo: self.repo(),
                var: self.token_var.clone(),
            }),
            403 | 429 if wait.is_some() => Attempt::Retry {
                after: wait,
                error: github(),
            },
            429 => Attempt::Retry {
                after: None,
                error: github(),
            },
            403 => Attempt::Fail(Error::GitHubForbidden {
                repo: self.repo(),
                message: gh.message.clone(),
            }),
            404 => Attempt::Fail(Error::GitHubNotFound { repo: self.repo() }),
            500..=599 => Attempt::Retry {
                after: wait,
                error: github(),
            },
            _ => Attempt::Fail(github()),
        }
    }

    /// `GET /repos/OWNER/NAME`: the repository exists, the token sees it and
    /// may push.
    async fn preflight(&self) -> Result<(), Error> {
        let operation = format!("GET repository {}", self.repo());
        let repo = with_retries(&self.policy, &operation, || async {
            self.crab
                .repos(&self.owner, &self.name)
                .get()
                .await
                .map_err(|e| self.classify(&operation, e))
        })
        .await?;
        if let Some(p) = repo.permissions
            && !p.push
        {
            return Err(Error::GitHubNoPushAccess { repo: self.repo() });
        }
        Ok(())
    }

    /// `GET contents/PATH`: the file's bytes and `sha`, `None` on 404.
    async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, String)>, Error> {
        let operation = format!("GET {path} in {}", self.repo());
        let items = with_retries(&self.policy, &operation, || async {
            match self
                .crab
                .repos(&self.owner, &self.name)
                .get_content()
                .path(path)
                .send()
                .await
            {
                Ok(items) => Ok(Some(items)),
                Err(octocrab::Error::GitHub { source, .. })
                    if source.status_code.as_u16() == 404 =>
                {
                    Ok(None)
                }
                Err(e) => Err(self.classify(&operation, e)),
            }
        })
        .await?;
        let Some(mut items) = items else {
            return Ok(None);
        };
        let bad = |reason: &str| Error::BadResponse {
            operation: operation.clone(),
            reason: reason.to_owned(),
        };
        let mut files = items.take_items();
        if files.len() != 1 || files[0].r#type != "file" {
            return Err(bad("not a file"));
        }
        let file = files.remove(0);
        if file.encoding.as_deref() != Some("base64") {
            return Err(bad("content is not base64-encoded"));
        }
        let b64: String = file
            .content
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = B64
            .decode(b64)
            .map_err(|_| bad("content is not valid base64"))?;
        Ok(Some((bytes, file.sha)))
    }

    /// `PUT contents/PATH`: creates the file (`sha` absent) or replaces the
    /// version with blob ID `sha`.
    async fn put(
        &self,
        path: &str,
        bytes: &[u8],
        sha: Option<&str>,
        message: &str,
    ) -> Result<Put, Error> {
        let operation = format!("PUT {path} in {}", self.repo());
        let author = CommitAuthor {
            name: AUTHOR_NAME.to_owned(),
            email: Some(AUTHOR_EMAIL.to_owned()),
            date: None,
        };
        with_retries(&self.policy, &operation, || async {
            let repos = self.crab.repos(&self.owner, &self.name);
            let builder = match sha {
                Some(sha) => repos.update_file(path, message, bytes, sha),
                None => repos.create_file(path, message, bytes),
            };
            match builder.author(author.clone()).send().await {
                Ok(update) => Ok(Put::Done {
                    commit: update.commit.sha,
                }),
                Err(octocrab::Error::GitHub { source, .. })
                    if source.status_code.as_u16() == 409
                        || (source.status_code.as_u16() == 422
                            && source.message.contains("sha")) =>
                {
                    Ok(Put::Conflict)
                }
                Err(e) => Err(self.classify(&operation, e)),
            }
        })
        .await
    }
}

impl Store for GitHubStore {
    type Version = Shas;

    async fn snapshot(&self) -> Result<Snapshot<Shas>, Error> {
        let checkpoint = self.get(&self.layout.checkpoint()).await?;
        let log_json = self.get(&self.layout.log_json()).await?;
        let readme = self.get(&self.layout.readme()).await?;
        let shas = Shas {
            checkpoint: checkpoint.as_ref().map(|(_, s)| s.clone()),
            log_json: log_json.as_ref().map(|(_, s)| s.clone()),
            readme: readme.as_ref().map(|(_, s)| s.clone()),
        };
        Ok(Snapshot {
            checkpoint: checkpoint.map(|(b, _)| b),
            log_json: log_json.map(|(b, _)| b),
            readme: readme.map(|(b, _)| b),
            version: shas,
        })
    }

    async fn read_history(
        &self,
        _snapshot: &Snapshot<Shas>,
        tree_size: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .get(&self.layout.history(tree_size))
            .await?
            .map(|(b, _)| b))
    }

    /// Writes `log.json` and `README.md` (each if it changed), then
    /// `checkpoint` (the commit point), then `checkpoints/<tree size>`: one
    /// commit each.
    async fn publish(&self, snapshot: &Snapshot<Shas>, p: &Publication) -> Result<Written, Error> {
        let descriptions = [
            (
                self.layout.log_json(),
                &p.log_json,
                &snapshot.version.log_json,
                log_json_message(&p.origin, p.tree_size),
            ),
            (
                self.layout.readme(),
                &p.readme,
                &snapshot.version.readme,
                readme_message(&p.origin, p.tree_size),
            ),
        ];
        for (path, bytes, sha, message) in descriptions {
            let Some(bytes) = bytes else { continue };
            let put = self.put(&path, bytes, sha.as_deref(), &message).await?;
            if matches!(put, Put::Conflict) {
                return Ok(Written::Conflict);
            }
        }
        // The commit point: once this PUT succeeds the checkpoint is
        // published. If the process dies before the next PUT, the history
        // file is missing, and the next run writes it (see `repair`).
        let put = self
            .put(
                &self.layout.checkpoint(),
                &p.checkpoint,
                snapshot.version.checkpoint.as_deref(),
                &p.message,
            )
            .await?;
        let Put::Done { commit } = put else {
            return Ok(Written::Conflict);
        };
        if p.write_history {
            self.write_history(snapshot, p.tree_size, &p.checkpoint, &p.origin)
                .await?;
        }
        Ok(Written::Done { commit })
    }

    async fn write_history(
        &self,
        _snapshot: &Snapshot<Shas>,
        tree_size: u64,
        checkpoint: &[u8],
        origin: &str,
    ) -> Result<Written, Error> {
        let path = self.layout.history(tree_size);
        let message = history_message(origin, tree_size);
        match self.put(&path, checkpoint, None, &message).await? {
            Put::Done { commit } => Ok(Written::Done { commit }),
            // Someone wrote it first. It is never rewritten; a different one
            // is reported by the next run's checks.
            Put::Conflict => {
                tracing::warn!(path, "history file already exists; left as it is");
                Ok(Written::Conflict)
            }
        }
    }
}
