//! The proof page `/entries/<index>`: an entry, its inclusion proof and the
//! checkpoint, readable by a person and shareable by URL. Every value from
//! the log is HTML-escaped.

use std::fmt::Write as _;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tlog::Hash;

use crate::log::LatestCheckpoint;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the page shows.
pub struct EntryPage<'a> {
    /// The log's URL.
    pub public_url: &'a str,
    /// The log's verifier key, text form.
    pub verifier_key: &'a str,
    /// Index of the entry.
    pub index: u64,
    /// The entry bytes.
    pub entry: &'a [u8],
    /// The latest checkpoint.
    pub checkpoint: &'a LatestCheckpoint,
    /// The inclusion proof against it, if the checkpoint covers the entry yet.
    pub proof: Option<&'a [Hash]>,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24;line-height:1.5}\
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}\
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}\
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.75rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0;word-break:break-all}\
ol{padding-left:2rem}li code{word-break:break-all}.ok{color:#1a7f37}.pending{color:#9a6700}footer{margin-top:3rem;color:#57606a;font-size:.85rem}";

/// Renders the proof page.
pub fn entry_page(p: &EntryPage<'_>) -> String {
    let leaf = tlog::leaf_hash(p.entry);
    let origin = p.verifier_key.split('+').next().unwrap_or_default();
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>Entry {idx} of {origin} — StateAnchor</title><style>{STYLE}</style></head><body>\
<h1>Entry {idx} of <code>{origin}</code></h1>",
        idx = p.index,
        origin = escape(origin),
    );
    let status = match p.proof {
        Some(_) => format!(
            "<p class=\"ok\">This entry is included in the log's signed checkpoint at tree size {}. \
Do not trust this page: check it yourself with the command below.</p>",
            p.checkpoint.tree_size
        ),
        None => "<p class=\"pending\">This entry is sequenced but not yet covered by a signed checkpoint; \
reload in a second.</p>"
            .to_owned(),
    };
    html.push_str(&status);
    let _ = write!(
        html,
        "<h2>Entry</h2><dl><dt>Index</dt><dd>{}</dd><dt>Size</dt><dd>{} bytes</dd>\
<dt>Leaf hash</dt><dd><code>{}</code></dd></dl>",
        p.index,
        p.entry.len(),
        leaf.to_base64()
    );
    match std::str::from_utf8(p.entry) {
        Ok(text)
            if !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t') =>
        {
            let _ = write!(html, "<pre>{}</pre>", escape(text));
        }
        _ => {
            let _ = write!(
                html,
                "<p>Binary entry, base64:</p><pre>{}</pre>",
                B64.encode(p.entry)
            );
        }
    }
    if let Some(proof) = p.proof {
        let _ = write!(
            html,
            "<h2>Inclusion proof</h2><p>{} hashes, from the leaf up, against tree size {}:</p><ol start=\"0\">",
            proof.len(),
            p.checkpoint.tree_size
        );
        for h in proof {
            let _ = write!(html, "<li><code>{}</code></li>", h.to_base64());
        }
        html.push_str("</ol>");
        if proof.is_empty() {
            html.push_str("<p>(Empty: the entry is the whole tree.)</p>");
        }
    }
    let _ = write!(
        html,
        "<h2>Signed checkpoint</h2><dl><dt>Tree size</dt><dd>{}</dd><dt>Root hash</dt><dd><code>{}</code></dd></dl><pre>{}</pre>",
        p.checkpoint.tree_size,
        p.checkpoint.root_hash.to_base64(),
        escape(&p.checkpoint.note)
    );
    let cmd = format!(
        "stateanchor-verify inclusion --log '{}' --key '{}' --index {}",
        p.public_url, p.verifier_key, p.index
    );
    let _ = write!(
        html,
        "<h2>Verify it yourself</h2><p>With the log's verifier key obtained independently of this page \
(for example from the publication repository), run:</p><pre id=\"verify-command\">{}</pre>\
<p>The command fetches the latest checkpoint, checks its signature with the key you give it, \
fetches the inclusion proof and checks it; exit code 0 means verified.</p>\
<footer>StateAnchor transparency log · <a href=\"{url}/v1/entries/{idx}\">JSON</a> · \
<a href=\"{url}/checkpoint\">checkpoint</a></footer></body></html>",
        escape(&cmd),
        url = escape(p.public_url),
        idx = p.index,
    );
    html
}

/// A small HTML error page.
pub fn error_page(status: StatusCode, what: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code}</title><style>{STYLE}</style></head>\
<body><h1>{code}</h1><p>No entry <code>{}</code> in this log.</p></body></html>",
        escape(what),
        code = status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_untrusted_text() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        let cp = LatestCheckpoint {
            tree_size: 1,
            root_hash: Hash::EMPTY,
            note: "o\n1\nx\n".into(),
            signed_at: std::time::Instant::now(),
        };
        let html = entry_page(&EntryPage {
            public_url: "http://x",
            verifier_key: "o+01234567+AAAA",
            index: 0,
            entry: b"<img src=x onerror=alert(1)>",
            checkpoint: &cp,
            proof: Some(&[]),
        });
        assert!(!html.contains("<img"));
        assert!(html.contains("stateanchor-verify inclusion"));
    }
}
