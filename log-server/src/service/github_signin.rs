//! Signing in to the cockpit with GitHub (an OAuth app's web flow): the
//! person authorizes the log's OAuth app at GitHub, the log exchanges the
//! code for a token and reads `GET /user` with it, and the session is for
//! the principal whose profile's `github_id` is the user's **numeric** ID,
//! the one the exception ledger uses for reviews. Never the login: logins
//! are renamed and then reused by someone else.
//!
//! The `state` is single use and bound to the browser that started the
//! sign-in, as for OpenID Connect ([`PendingSignIns`]), and the flow uses
//! PKCE (S256, which GitHub supports since July 2025): the verifier is
//! derived from the browser's binding, so a code issued to one browser's
//! sign-in cannot be exchanged in another's. The token is used
//! for that one request and not kept. GitHub's web endpoints are at
//! `--github-web-url` (`https://github.com`, or a GitHub Enterprise
//! Server), the API at `--github-api`.

use serde::Deserialize;

use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};

use super::oidc::{
    Begun, Callback, HTTP_TIMEOUT, PendingSignIns, acceptable_issuer, derived, refused,
};
use crate::keys::random_secret;
use crate::{Error, Result};

/// The log's OAuth app at GitHub.
#[derive(Clone, Debug)]
pub struct GitHubAppConfig {
    /// The OAuth app's client ID.
    pub client_id: String,
    /// Its client secret (read from a file; never logged).
    pub client_secret: String,
    /// GitHub's web URL: `https://github.com`, or a GitHub Enterprise
    /// Server's.
    pub web_url: String,
    /// GitHub's API URL: `https://api.github.com`, or `<GHES>/api/v3`.
    pub api_url: String,
    /// The callback: `<public URL>/ui/github/callback`.
    pub redirect_url: String,
}

/// A GitHub user GitHub vouched for.
#[derive(Clone, Debug)]
pub struct GitHubUser {
    /// The numeric user ID.
    pub id: u64,
    /// The login it has now.
    pub login: String,
    /// The project the sign-in was started for, if one was named.
    pub project: Option<String>,
}

/// Signing in with GitHub.
pub struct GitHubSignIn {
    config: GitHubAppConfig,
    http: reqwest::Client,
    pending: PendingSignIns,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
}

fn github_error(what: &str, e: impl std::fmt::Display) -> Error {
    tracing::warn!(error = %e, "GitHub sign-in: {what}");
    Error::IdentityProvider(format!("GitHub: {what}: {e}"))
}

impl GitHubSignIn {
    /// Signing in with the OAuth app `config` names, keeping the pending
    /// sign-ins in `pending`.
    ///
    /// # Errors
    /// [`Error::Config`] for a URL that is neither https nor loopback http,
    /// an empty client ID or secret.
    pub fn new(mut config: GitHubAppConfig, pending: PendingSignIns) -> Result<Self> {
        for (what, url) in [
            ("--github-web-url", &config.web_url),
            ("--github-api", &config.api_url),
        ] {
            if !acceptable_issuer(url) {
                return Err(Error::Config(format!(
                    "{what} must be an https URL (http only on 127.0.0.1, localhost or [::1]) for GitHub sign-in, got {url:?}"
                )));
            }
        }
        if config.client_id.trim().is_empty() || config.client_secret.trim().is_empty() {
            return Err(Error::Config(
                "the GitHub OAuth app's client ID and secret must not be empty".into(),
            ));
        }
        config.web_url = config.web_url.trim_end_matches('/').to_owned();
        config.api_url = config.api_url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .user_agent("stateanchor-log")
            .build()
            .map_err(|e| Error::Config(format!("the GitHub HTTP client: {e}")))?;
        Ok(GitHubSignIn {
            config,
            http,
            pending,
        })
    }

    /// Starts a sign-in at `now`: a new single-use `state`, kept as
    /// pending with the browser's binding.
    ///
    /// # Errors
    /// [`Error::Pushback`] when too many sign-ins are pending.
    pub async fn begin(&self, now: i64, project: Option<String>) -> Result<Begun> {
        let state = random_secret("ghs");
        let binding = PendingSignIns::new_binding();
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier_of(&binding),
        ));
        let url = reqwest::Url::parse_with_params(
            &format!("{}/login/oauth/authorize", self.config.web_url),
            &[
                ("client_id", self.config.client_id.as_str()),
                ("redirect_uri", self.config.redirect_url.as_str()),
                ("state", state.as_str()),
                ("allow_signup", "false"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", challenge.method().as_str()),
            ],
        )
        .map_err(|e| Error::Config(format!("--github-web-url: {e}")))?;
        self.pending.insert(&state, &binding, now, project).await?;
        Ok(Begun {
            url: url.to_string(),
            binding,
        })
    }

    /// Finishes a sign-in at `now` from GitHub's callback and the browser's
    /// binding: the pending sign-in of its `state` (used up whatever
    /// follows), the code exchanged for a token, `GET /user` read with it.
    ///
    /// # Errors
    /// A refusal (403) for an unknown, used or expired `state`, another
    /// browser, a code GitHub refuses; [`Error::IdentityProvider`] when
    /// GitHub cannot be reached or answers something else.
    pub async fn finish(
        &self,
        callback: Callback,
        binding: Option<&str>,
        now: i64,
    ) -> Result<GitHubUser> {
        let taken = self
            .pending
            .take(callback.state.clone(), binding, now)
            .await?;
        let code = callback.code("GitHub", 200)?;
        let answer: TokenAnswer = self
            .http
            .post(format!("{}/login/oauth/access_token", self.config.web_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.as_str()),
                ("code", code.as_str()),
                ("redirect_uri", self.config.redirect_url.as_str()),
                ("code_verifier", verifier_of(&taken.binding).as_str()),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| github_error("the code exchange failed", e))?
            .json()
            .await
            .map_err(|e| github_error("the code exchange answered no JSON", e))?;
        let token = match (answer.access_token, answer.error) {
            (Some(t), None) if !t.is_empty() => t,
            (_, Some(e)) => {
                tracing::warn!(error = %e, "GitHub sign-in: GitHub refused the code");
                return Err(refused(format!(
                    "GitHub refused the code ({})",
                    e.chars().take(60).collect::<String>()
                )));
            }
            _ => return Err(github_error("the code exchange", "no access token")),
        };
        let user: User = self
            .http
            .get(format!("{}/user", self.config.api_url))
            .bearer_auth(&token)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| github_error("reading the user failed", e))?
            .json()
            .await
            .map_err(|e| github_error("the user is not JSON with a numeric id", e))?;
        if user.id == 0 {
            return Err(github_error("reading the user", "id 0"));
        }
        Ok(GitHubUser {
            id: user.id,
            login: user.login,
            project: taken.project,
        })
    }
}

/// The PKCE verifier (S256) of the sign-in bound to `binding`: GitHub
/// checks it at the code exchange, so a code obtained in another browser's
/// sign-in (an injected code) cannot be exchanged in this one.
fn verifier_of(binding: &str) -> String {
    derived(binding, "github pkce verifier")
}
