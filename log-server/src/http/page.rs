//! The proof page `/entries/<index>`: an entry, its inclusion proof and the
//! checkpoint, readable by a person and shareable by URL. Every value from
//! the log is HTML-escaped.
//!
//! The page checks itself in the browser with `assets/verify.js` (served at
//! `/assets/verify.js`), under a Content-Security-Policy without inline
//! script or style: it carries the entry's bytes, the proof and the signed
//! checkpoint in elements with stable ids, and the script recomputes
//! everything from them against a key the reader pins in the address
//! (`?key=`, `&witness=`, `&quorum=`) or in the page's form. See
//! `spec/http-api.md`.

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
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

/// The Content-Security-Policy of the proof page and its error page: no
/// inline script or style, nothing but this log's own assets, no eval, no
/// fetching (the page checks what it carries), and DOM sinks closed by
/// Trusted Types (the script writes text only).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

/// The script that checks the page in the browser (`GET /assets/verify.js`).
pub const VERIFY_JS: &str = include_str!("assets/verify.js");

/// The page's style sheet (`GET /assets/proof.css`).
pub const PROOF_CSS: &str = include_str!("assets/proof.css");

/// Security headers of the proof page and its error page.
#[must_use]
pub fn security_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        // The address may carry pinned keys: not secrets, but nobody's business.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ]
}

/// A strong `ETag` of an asset: the start of its SHA-256.
fn etag(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut tag = String::from("\"");
    for b in &digest[..12] {
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
}

/// Serves an embedded asset: `Cache-Control: no-cache` with a content-hash
/// `ETag`, so a browser revalidates (a 304) and never runs a stale script
/// against a newer page.
fn asset(
    headers: &HeaderMap,
    body: &'static str,
    content_type: &'static str,
    tag: &str,
) -> Response {
    let tag_value = HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\""));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, tag_value),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == tag || t.strip_prefix("W/") == Some(tag) || t == "*"
        });
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// `GET /assets/verify.js`
pub async fn verify_js(headers: HeaderMap) -> Response {
    static TAG: OnceLock<String> = OnceLock::new();
    let tag = TAG.get_or_init(|| etag(VERIFY_JS));
    asset(&headers, VERIFY_JS, "text/javascript; charset=utf-8", tag)
}

/// `GET /assets/proof.css`
pub async fn proof_css(headers: HeaderMap) -> Response {
    static TAG: OnceLock<String> = OnceLock::new();
    let tag = TAG.get_or_init(|| etag(PROOF_CSS));
    asset(&headers, PROOF_CSS, "text/css; charset=utf-8", tag)
}

/// The head of both pages. Assets are linked relative to the page
/// (`/entries/<index>` -> `/assets/...`), so the page works behind a path
/// prefix too.
fn head(title: &str, script: bool) -> String {
    let script = if script {
        "<script src=\"../assets/verify.js\" defer></script>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title}</title><link rel=\"stylesheet\" href=\"../assets/proof.css\">{script}</head><body>"
    )
}

/// The in-browser check: its result (`#verify-status`), its steps
/// (`#verify-steps`), where the log key came from, and the form that pins
/// keys in the address. Without JavaScript it says that nothing was checked.
const VERIFY_SECTION: &str = "<section id=\"verify\" aria-labelledby=\"verify-heading\">\
<h2 id=\"verify-heading\">Checked in your browser</h2>\
<p id=\"verify-status\" role=\"status\" aria-live=\"polite\" data-state=\"unchecked\">not checked: \
this page checks itself with JavaScript (this log's assets/verify.js); without it, run the command \
at the end of the page.</p>\
<ol id=\"verify-steps\">\
<li id=\"step-entry\" data-result=\"unchecked\"><span class=\"step-text\">Entry and leaf hash: not checked</span></li>\
<li id=\"step-inclusion\" data-result=\"unchecked\"><span class=\"step-text\">Inclusion in the checkpoint: not checked</span></li>\
<li id=\"step-signature\" data-result=\"unchecked\"><span class=\"step-text\">Log signature: not checked</span></li>\
<li id=\"step-cosignatures\" data-result=\"unchecked\"><span class=\"step-text\">Witness cosignatures: not checked</span></li>\
</ol>\
<p id=\"verify-key-source\">Log key: none pinned, so the check uses the key this page shows, which comes \
from this server. Pinning the log's key obtained elsewhere (its publication repository, its operator) is \
what makes the check independent.</p>\
<form id=\"verify-form\" method=\"get\">\
<label for=\"pin-key\">Log key</label>\
<input id=\"pin-key\" name=\"key\" type=\"text\" autocomplete=\"off\" autocapitalize=\"off\" spellcheck=\"false\" \
placeholder=\"&lt;name&gt;+&lt;key ID&gt;+&lt;base64&gt;\">\
<label for=\"pin-witness\">Witness keys (cosignature/v1), one a line</label>\
<textarea id=\"pin-witness\" name=\"witness\" rows=\"2\" autocomplete=\"off\" autocapitalize=\"off\" spellcheck=\"false\"></textarea>\
<label for=\"pin-quorum\">Witnesses required (default: all)</label>\
<input id=\"pin-quorum\" name=\"quorum\" type=\"number\" min=\"1\" step=\"1\">\
<button id=\"pin-submit\" type=\"submit\">Check with these keys</button>\
</form>\
<p>The check recomputes the leaf hash from the entry's bytes, the root hash from the inclusion proof, and \
verifies the checkpoint's signature and the pinned witnesses' cosignatures, with your browser's WebCrypto. \
Keys can also be pinned in the address: <code>?key=&lt;log key&gt;&amp;witness=&lt;witness key&gt;&amp;quorum=&lt;k&gt;</code> \
(URL-encoded; <code>witness</code> may repeat). The script itself is served by this log; a check that trusts \
nothing served here is the command below.</p>\
</section>";

/// Renders the proof page.
pub fn entry_page(p: &EntryPage<'_>) -> String {
    let leaf = tlog::leaf_hash(p.entry);
    let origin = p.verifier_key.split('+').next().unwrap_or_default();
    let mut html = head(
        &format!("Entry {} of {} — StateAnchor", p.index, escape(origin)),
        true,
    );
    html.reserve(8192 + p.entry.len() * 2);
    let _ = write!(
        html,
        "<h1>Entry {} of <code>{}</code></h1>",
        p.index,
        escape(origin),
    );
    let status = match p.proof {
        Some(_) => format!(
            "<p class=\"ok\">This entry is included in the log's signed checkpoint at tree size {}. \
Do not trust this page: check it yourself, in this browser below or with the command at the end.</p>",
            p.checkpoint.tree_size
        ),
        None => "<p class=\"pending\">This entry is sequenced but not yet covered by a signed checkpoint; \
reload in a second.</p>"
            .to_owned(),
    };
    html.push_str(&status);
    html.push_str(VERIFY_SECTION);
    let _ = write!(
        html,
        "<h2>Entry</h2><dl><dt>Index</dt><dd id=\"entry-index\">{}</dd><dt>Size</dt><dd>{} bytes</dd>\
<dt>Leaf hash</dt><dd><code id=\"leaf-hash\">{}</code></dd></dl>",
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
            // The parser drops one line feed right after `<pre>`: the one
            // written here, so that the text shown is exactly the entry's.
            let _ = write!(
                html,
                "<pre id=\"entry-text\">\n{}</pre><details><summary>Entry bytes, base64</summary>\
<pre id=\"entry-b64\">{}</pre></details>",
                escape(text),
                B64.encode(p.entry)
            );
        }
        _ => {
            let _ = write!(
                html,
                "<p>Binary entry, base64:</p><pre id=\"entry-b64\">{}</pre>",
                B64.encode(p.entry)
            );
        }
    }
    if let Some(proof) = p.proof {
        let _ = write!(
            html,
            "<h2>Inclusion proof</h2><p>{} hashes, from the leaf up, against tree size {}:</p>\
<ol id=\"inclusion-proof\" start=\"0\">",
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
        "<h2>Signed checkpoint</h2><dl><dt>Tree size</dt><dd id=\"checkpoint-size\">{}</dd>\
<dt>Root hash</dt><dd><code id=\"checkpoint-root\">{}</code></dd></dl>\
<pre id=\"checkpoint-note\">\n{}</pre>",
        p.checkpoint.tree_size,
        p.checkpoint.root_hash.to_base64(),
        escape(&p.checkpoint.note)
    );
    // The offline proof file exists once a checkpoint covers the entry.
    let offline = if p.proof.is_some() {
        format!(
            "<p>Or keep this proof and check it later with no network at all: download \
<a id=\"proof-download\" href=\"{url}/v1/entries/{idx}/proof.tlog-proof\">the proof file</a> \
(<code>c2sp.org/tlog-proof@v1</code>: the inclusion proof and the checkpoint with its cosignatures) \
and <a id=\"entry-download\" download=\"entry-{idx}.bin\" \
href=\"data:application/octet-stream;base64,{b64}\">the entry's bytes</a>, then run \
<code>stateanchor-verify proof FILE --entry entry-{idx}.bin --key KEY</code> \
(or <code>--policy FILE</code> for a witness quorum).</p>",
            url = escape(p.public_url),
            idx = p.index,
            b64 = B64.encode(p.entry),
        )
    } else {
        String::new()
    };
    let cmd = format!(
        "stateanchor-verify inclusion --log '{}' --key '{}' --index {}",
        p.public_url, p.verifier_key, p.index
    );
    let _ = write!(
        html,
        "<h2>Verify it yourself</h2><p>The log's verifier key, as this server gives it: \
<code id=\"log-key\">{vkey}</code></p><p>With the log's verifier key obtained independently of this page \
(for example from the publication repository), run:</p><pre id=\"verify-command\">{}</pre>\
<p>The command fetches the latest checkpoint, checks its signature with the key you give it, \
fetches the inclusion proof and checks it; exit code 0 means verified.</p>\
{offline}\
<footer>StateAnchor transparency log · <a href=\"{url}/v1/entries/{idx}\">JSON</a> · \
<a href=\"{url}/checkpoint\">checkpoint</a></footer></body></html>",
        escape(&cmd),
        vkey = escape(p.verifier_key),
        url = escape(p.public_url),
        idx = p.index,
    );
    html
}

/// A small HTML error page: `status` and `message` (the JSON API's), for
/// the page of entry `what`.
pub fn error_page(status: StatusCode, what: &str, message: &str) -> String {
    let text = if status == StatusCode::NOT_FOUND {
        format!("No entry <code>{}</code> in this log.", escape(what))
    } else {
        format!(
            "The page of entry <code>{}</code> cannot be shown now: {}.",
            escape(what),
            escape(message)
        )
    };
    format!(
        "{}<h1>{status}</h1><p>{text}</p></body></html>",
        head(&status.to_string(), false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> LatestCheckpoint {
        LatestCheckpoint {
            tree_size: 1,
            root_hash: Hash::EMPTY,
            note: "o\n1\nx\n\n— o AAAA\n".into(),
            signed_at: std::time::Instant::now(),
        }
    }

    fn page(entry: &[u8], proof: Option<&[Hash]>) -> String {
        entry_page(&EntryPage {
            public_url: "http://x",
            verifier_key: "o+01234567+AAAA",
            index: 0,
            entry,
            checkpoint: &checkpoint(),
            proof,
        })
    }

    #[test]
    fn escapes_untrusted_text() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        let html = page(b"<img src=x onerror=alert(1)>", Some(&[]));
        assert!(!html.contains("<img"));
        assert!(html.contains("stateanchor-verify inclusion"));
    }

    #[test]
    fn carries_what_the_script_reads_and_no_inline_script_or_style() {
        let html = page(b"\nstarts with a line feed", Some(&[Hash::EMPTY]));
        for id in [
            "verify-status",
            "verify-steps",
            "step-entry",
            "step-inclusion",
            "step-signature",
            "step-cosignatures",
            "verify-key-source",
            "verify-form",
            "pin-key",
            "pin-witness",
            "pin-quorum",
            "entry-index",
            "entry-text",
            "entry-b64",
            "leaf-hash",
            "inclusion-proof",
            "checkpoint-size",
            "checkpoint-root",
            "checkpoint-note",
            "log-key",
            "verify-command",
            "proof-download",
            "entry-download",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
        }
        // The parser drops the line feed right after <pre>: the extra one.
        assert!(html.contains("<pre id=\"entry-text\">\n\nstarts with"));
        assert!(html.contains("<pre id=\"checkpoint-note\">\no\n1\n"));
        // Without JavaScript the status says that nothing was checked.
        assert!(html.contains("data-state=\"unchecked\">not checked"));
        // Scripts come from the log only; no style element or attribute.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"../assets/verify.js\" defer></script>"));
        assert!(!html.contains("<style") && !html.contains(" style="));
        assert!(CSP.contains("script-src 'self'") && !CSP.contains("unsafe"));
    }

    #[test]
    fn a_binary_entry_is_shown_in_base64_and_a_pending_one_has_no_proof() {
        let html = page(&[0, 1, 2, 255], None);
        assert!(html.contains("<pre id=\"entry-b64\">AAEC/w==</pre>"));
        assert!(!html.contains("entry-text") && !html.contains("inclusion-proof"));
        assert!(html.contains("not yet covered"));
        // No proof file to offer before a checkpoint covers the entry.
        assert!(!html.contains("proof-download") && !html.contains("entry-download"));
    }

    #[test]
    fn the_error_page_has_no_script_and_says_why() {
        let html = error_page(StatusCode::NOT_FOUND, "<x>", "no entry at index 9");
        assert!(!html.contains("<script") && html.contains("No entry <code>&lt;x&gt;</code>"));
        let html = error_page(StatusCode::SERVICE_UNAVAILABLE, "3", "not <yet> witnessed");
        assert!(html.contains("cannot be shown now: not &lt;yet&gt; witnessed."));
    }

    #[test]
    fn assets_are_revalidated_by_etag() {
        let tag = etag(VERIFY_JS);
        let resp = asset(&HeaderMap::new(), VERIFY_JS, "text/javascript", &tag);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", {tag}")).unwrap_or(HeaderValue::from_static("")),
        );
        let resp = asset(&h, VERIFY_JS, "text/javascript", &tag);
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert_ne!(etag(VERIFY_JS), etag(PROOF_CSS));
    }
}
