//! Where checkpoints and consistency proofs come from: the
//! [`CheckpointSource`] trait, and [`HttpSource`], which reads a log's public
//! read API.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use tlog::Hash;

use crate::Error;
use crate::error::BoxError;
use crate::retry::{Attempt, RetryPolicy, with_retries};

/// The largest response body accepted from the log (checkpoints and proofs
/// are a few kilobytes).
const MAX_BODY: usize = 1 << 20;

/// The log, as the publisher sees it.
///
/// The publisher trusts a source for nothing: it verifies every checkpoint's
/// signature and every proof itself. A source only moves bytes, so the log
/// server can implement it over its own state, and the CLI over HTTP
/// ([`HttpSource`]).
///
/// Contract:
/// - [`latest_checkpoint`](Self::latest_checkpoint) MUST return the log's
///   latest signed checkpoint note, byte for byte as `GET /checkpoint`
///   serves it.
/// - [`consistency_proof`](Self::consistency_proof) MUST return the RFC 6962
///   consistency proof from tree size `first` to `second` (it is called
///   with `0 < first < second`), as `GET /v1/proof/consistency` serves it,
///   and MUST return an error, never a made-up proof, when it has none.
/// - Errors are reported as-is (nothing is published, and [`run`](crate::run)
///   tries again at the next interval); a source may retry internally.
pub trait CheckpointSource: Send + Sync {
    /// The log's latest signed checkpoint note.
    fn latest_checkpoint(&self) -> impl Future<Output = Result<Vec<u8>, BoxError>> + Send;

    /// The consistency proof from tree size `first` to tree size `second`.
    fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> impl Future<Output = Result<Vec<Hash>, BoxError>> + Send;
}

/// A [`CheckpointSource`] that reads a log's public read API over HTTP:
/// `GET {log}/checkpoint` and `GET {log}/v1/proof/consistency?first=M&second=N`.
///
/// Retries 5xx (honouring `Retry-After`), 429, timeouts and transport errors
/// as its [`RetryPolicy`] says.
#[derive(Debug, Clone)]
pub struct HttpSource {
    base: String,
    client: reqwest::Client,
    policy: RetryPolicy,
}

/// The JSON body of `GET /v1/proof/consistency`.
#[derive(Deserialize)]
struct ConsistencyResponse {
    first: u64,
    second: u64,
    proof: Vec<String>,
}

impl HttpSource {
    /// A source for the log at `log_url` (e.g. `https://log.example.com`).
    ///
    /// # Errors
    /// [`Error::InvalidLogUrl`] if the URL is not `http://` or `https://`;
    /// [`Error::Transport`] if the HTTP client cannot be built.
    pub fn new(log_url: &str, policy: RetryPolicy) -> Result<Self, Error> {
        let base = log_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::InvalidLogUrl {
                url: log_url.to_owned(),
            });
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("stateanchor-publish/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Transport {
                operation: "build the HTTP client".to_owned(),
                source: e.into(),
            })?;
        Ok(HttpSource {
            base,
            client,
            policy,
        })
    }

    /// The log's base URL, without a trailing slash.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.base
    }

    /// GETs `path` and returns the body of a 2xx response.
    async fn get(&self, path: &str) -> Result<Vec<u8>, Error> {
        let url = format!("{}{path}", self.base);
        let operation = format!("GET {url}");
        with_retries(&self.policy, &operation, || async {
            let resp = self
                .client
                .get(&url)
                .send()
                .await
                .map_err(|e| Attempt::Retry {
                    after: None,
                    error: Error::Transport {
                        operation: operation.clone(),
                        source: e.into(),
                    },
                })?;
            let status = resp.status();
            let retry_after = crate::retry::retry_after(resp.headers());
            let body = resp.bytes().await.map_err(|e| Attempt::Retry {
                after: None,
                error: Error::Transport {
                    operation: operation.clone(),
                    source: e.into(),
                },
            })?;
            if status.is_success() {
                if body.len() > MAX_BODY {
                    return Err(Attempt::Fail(Error::BadResponse {
                        operation: operation.clone(),
                        reason: format!("body of {} bytes is too large", body.len()),
                    }));
                }
                return Ok(body.to_vec());
            }
            let error = Error::HttpStatus {
                operation: operation.clone(),
                status: status.as_u16(),
                message: error_message(&body),
            };
            if status.is_server_error() || status.as_u16() == 429 {
                Err(Attempt::Retry {
                    after: retry_after,
                    error,
                })
            } else {
                Err(Attempt::Fail(error))
            }
        })
        .await
    }
}

/// The `error` field of the log's JSON error body, else the body as text
/// (shortened).
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return e.error;
    }
    String::from_utf8_lossy(body).chars().take(200).collect()
}

impl CheckpointSource for HttpSource {
    async fn latest_checkpoint(&self) -> Result<Vec<u8>, BoxError> {
        Ok(self.get("/checkpoint").await?)
    }

    async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, BoxError> {
        let path = format!("/v1/proof/consistency?first={first}&second={second}");
        let body = self.get(&path).await?;
        let bad = |reason: String| Error::BadResponse {
            operation: format!("GET {}{path}", self.base),
            reason,
        };
        let resp: ConsistencyResponse =
            serde_json::from_slice(&body).map_err(|e| bad(format!("not the proof JSON: {e}")))?;
        if (resp.first, resp.second) != (first, second) {
            return Err(bad(format!(
                "proof is for sizes {} to {}, asked for {first} to {second}",
                resp.first, resp.second
            ))
            .into());
        }
        let proof = resp
            .proof
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("proof hash: {e}")))?;
        Ok(proof)
    }
}
