//! The HTTP client: timeouts, a user agent, size limits, retries on 502-504.

use std::io::Read as _;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use reqwest::Url;
use reqwest::blocking::Client;
use serde_json::Value;

use crate::term::escape_bytes;

/// The HTTP client (timeouts, user agent, size limits, retries on 503).
#[derive(Clone)]
pub struct Http {
    client: Result<Client, String>,
}

/// A response: its status and (size-limited) body.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Http {
    /// A client whose requests each time out after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("stateanchor-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("{e:#}"));
        Http { client }
    }

    /// GETs `url` with extra `headers`, reading at most `limit` bytes of body.
    /// Retries a few times on 502/503/504, honouring a short `Retry-After`.
    ///
    /// # Errors
    /// Network errors, and bodies over `limit`.
    pub fn get(
        &self,
        url: &Url,
        limit: usize,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Response> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| anyhow!("cannot create the HTTP client: {e}"))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = client.get(url.clone());
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            let resp = req.send().with_context(|| format!("GET {url}"))?;
            let status = resp.status().as_u16();
            if matches!(status, 502..=504) && attempt < 4 {
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .min(10);
                std::thread::sleep(Duration::from_secs(wait));
                continue;
            }
            if let Some(len) = resp.content_length()
                && len > limit as u64
            {
                bail!(
                    "GET {url}: response of {len} bytes is larger than the {limit} bytes allowed"
                );
            }
            let mut body = Vec::new();
            resp.take(limit as u64 + 1)
                .read_to_end(&mut body)
                .with_context(|| format!("GET {url}: reading the response"))?;
            if body.len() > limit {
                bail!("GET {url}: response is larger than the {limit} bytes allowed");
            }
            return Ok(Response { status, body });
        }
    }
}

/// A short, escaped excerpt of an error response: its JSON `error` field if any.
pub fn error_text(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(e) = v
            .get("error")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
    {
        return escape_bytes(e.as_bytes());
    }
    let cut = &body[..body.len().min(200)];
    escape_bytes(cut)
}
