//! Inputs the user names: a file, `-` for stdin, or an http(s) URL.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use reqwest::Url;

use super::file::read_file_limited;
use super::http::{Http, error_text};
use crate::report::hinted;

/// Reads an input the user named: a file, `-` for stdin, or an http(s) URL.
///
/// # Errors
/// Missing files, network errors, HTTP statuses other than 200.
pub fn read_input(input: &str, http: &Http, limit: usize) -> anyhow::Result<(Vec<u8>, String)> {
    if input == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_end(&mut body)
            .context("reading stdin")?;
        if body.len() > limit {
            bail!("stdin is larger than the {limit} bytes allowed");
        }
        return Ok((body, "stdin".into()));
    }
    if input.starts_with("http://") || input.starts_with("https://") {
        let url = Url::parse(input).map_err(|e| {
            hinted(
                format!("{input:?} is not a valid URL: {e}"),
                "give a file, - for stdin, or a URL such as https://log.example.com/checkpoint",
            )
        })?;
        let resp = http.get(&url, limit, &[])?;
        if resp.status != 200 {
            bail!(
                "GET {url}: HTTP {}: {}",
                resp.status,
                error_text(&resp.body)
            );
        }
        return Ok((resp.body, url.to_string()));
    }
    if input.contains("://") {
        return Err(hinted(
            format!("{input:?}: only http:// and https:// URLs are supported"),
            "give a file, - for stdin, or an http(s) URL",
        ));
    }
    let path = Path::new(input);
    match read_file_limited(path, limit)? {
        Some(b) => Ok((b, path.display().to_string())),
        None => Err(hinted(
            format!("{input}: no such file"),
            "give a checkpoint file, - for stdin, or an http(s) URL",
        )),
    }
}
