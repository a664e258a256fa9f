//! Reads pull-request reviews from the GitHub REST API (octocrab), for
//! `github_review` signals. The base URL is configurable (`serve
//! --github-api`), so tests run against a fake GitHub on 127.0.0.1 and
//! GitHub Enterprise Server works too.

use std::time::Duration;

use octocrab::Octocrab;

use compliance::ledger::Review;

use crate::{Error, Result};

/// The GitHub API client.
pub struct GitHub {
    api: String,
    token: Option<String>,
}

impl GitHub {
    /// A client of the API at `api` (e.g. `https://api.github.com`), with an
    /// optional token.
    #[must_use]
    pub fn new(api: &str, token: Option<String>) -> Self {
        GitHub {
            api: api.trim_end_matches('/').to_owned(),
            token,
        }
    }

    fn client(&self) -> Result<Octocrab> {
        let timeout = Some(Duration::from_secs(15));
        let mut b = Octocrab::builder()
            .set_connect_timeout(timeout)
            .set_read_timeout(timeout)
            .base_uri(self.api.as_str())
            .map_err(|e| Error::GitHub(format!("bad --github-api {}: {e}", self.api)))?;
        if let Some(t) = &self.token {
            b = b.personal_token(t.clone());
        }
        b.build().map_err(|e| Error::GitHub(e.to_string()))
    }

    /// Every review of a pull request, in GitHub's (chronological) order.
    ///
    /// # Errors
    /// A refusal (400) when the pull request does not exist or the token
    /// cannot see it; [`Error::GitHub`] for any other failure (transport,
    /// rate limit, 5xx).
    pub async fn reviews(&self, owner: &str, name: &str, pull_request: u64) -> Result<Vec<Review>> {
        let crab = self.client()?;
        let classify = |e| classify(e, owner, name, pull_request);
        let first = crab
            .pulls(owner, name)
            .list_reviews(pull_request)
            .per_page(100)
            .send()
            .await
            .map_err(classify)?;
        let all = crab.all_pages(first).await.map_err(classify)?;
        Ok(all
            .into_iter()
            .map(|r| Review {
                id: r.id.into_inner(),
                login: r.user.as_ref().map(|u| u.login.clone()).unwrap_or_default(),
                state: r
                    .state
                    .and_then(|s| serde_json::to_value(s).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                commit_id: r.commit_id.unwrap_or_default(),
                submitted_at: r.submitted_at.map(|t| t.timestamp_millis()),
                user_id: r.user.as_ref().map(|u| u.id.into_inner()),
            })
            .collect())
    }

    /// The pull request's current head commit (`head.sha`) and its
    /// author's GitHub numeric id (`user.id`).
    ///
    /// # Errors
    /// As [`GitHub::reviews`].
    pub async fn pull(&self, owner: &str, name: &str, pull_request: u64) -> Result<(String, u64)> {
        let crab = self.client()?;
        let route = format!("/repos/{owner}/{name}/pulls/{pull_request}");
        let pr: serde_json::Value = crab
            .get(route, None::<&()>)
            .await
            .map_err(|e| classify(e, owner, name, pull_request))?;
        let head = pr["head"]["sha"].as_str().filter(|s| !s.is_empty());
        let author = pr["user"]["id"].as_u64();
        head.map(str::to_owned).zip(author).ok_or_else(|| {
            Error::GitHub(format!(
                "pull request {pull_request} of {owner}/{name} has no head commit or author"
            ))
        })
    }

    /// The pull request's commits, oldest first (GitHub lists at most 250).
    ///
    /// # Errors
    /// As [`GitHub::reviews`].
    pub async fn commits(&self, owner: &str, name: &str, pull_request: u64) -> Result<Vec<String>> {
        let crab = self.client()?;
        let mut out = Vec::new();
        for page in 1..=3u32 {
            let route = format!(
                "/repos/{owner}/{name}/pulls/{pull_request}/commits?per_page=100&page={page}"
            );
            let list: Vec<serde_json::Value> = crab
                .get(route, None::<&()>)
                .await
                .map_err(|e| classify(e, owner, name, pull_request))?;
            let n = list.len();
            out.extend(
                list.iter()
                    .filter_map(|c| c["sha"].as_str().map(str::to_owned)),
            );
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// The GitHub numeric id of a login (`GET /users/{login}`); `None` if
    /// GitHub knows no such user.
    ///
    /// # Errors
    /// [`Error::GitHub`] for any failure but a 404.
    pub async fn user_id(&self, login: &str) -> Result<Option<u64>> {
        let crab = self.client()?;
        let user: std::result::Result<serde_json::Value, _> =
            crab.get(format!("/users/{login}"), None::<&()>).await;
        match user {
            Ok(u) => Ok(u["id"].as_u64()),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
                Ok(None)
            }
            Err(e) => Err(Error::GitHub(e.to_string())),
        }
    }
}

/// A GitHub failure as the service's error: a 404 is the caller's mistake
/// (a refusal), anything else GitHub's.
fn classify(e: octocrab::Error, owner: &str, name: &str, pull_request: u64) -> Error {
    match &e {
        octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 404 => {
            super::invalid(format!(
                "GitHub has no pull request {pull_request} in {owner}/{name} (or the token cannot see it)"
            ))
        }
        _ => Error::GitHub(e.to_string()),
    }
}
