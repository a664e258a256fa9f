//! Rendering reports and changelogs: text, JSON, Markdown, JUnit XML and
//! GitHub Actions annotations. Pure functions of the report; the same report
//! renders to the same bytes.

use std::fmt::Write as _;

use crate::{Changelog, Finding, Report, Severity};

/// Output formats of `stateanchor-gate diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line per finding, for people.
    Text,
    /// `{"findings": [...]}`.
    Json,
    /// A Markdown table (pull-request comments).
    Markdown,
    /// JUnit XML: one failing test case per ERR (and WARN) finding.
    Junit,
    /// GitHub Actions workflow commands (`::error ...::`).
    GithubActions,
}

/// Strips control characters (terminal escapes) from untrusted text.
#[must_use]
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

fn place(f: &Finding) -> String {
    let l = f.revision.as_ref().or(f.base.as_ref());
    match l {
        Some(l) => match (l.line, l.column) {
            (Some(line), Some(col)) => format!("{}:{line}:{col}", l.file),
            _ => format!("{}#{}", l.file, l.pointer),
        },
        None => String::new(),
    }
}

/// Renders a report.
#[must_use]
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => json(report),
        Format::Markdown => markdown(report),
        Format::Junit => junit(report),
        Format::GithubActions => github(report),
    }
}

fn json(report: &Report) -> String {
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|_| "{\"findings\":[]}".to_owned());
    s.push('\n');
    s
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let ep = if f.endpoint.is_empty() {
            "(document)"
        } else {
            f.endpoint.as_str()
        };
        let _ = writeln!(
            out,
            "{:<4} {} {}: {}",
            f.severity.as_str(),
            sanitize(ep),
            f.rule,
            sanitize(&f.detail)
        );
        let p = place(f);
        if !p.is_empty() {
            let _ = writeln!(out, "     at {}", sanitize(&p));
        }
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        out,
        "{} findings: {} ERR, {} WARN, {} INFO",
        report.findings.len(),
        count(Severity::Err),
        count(Severity::Warn),
        count(Severity::Info)
    );
    out
}

fn md_cell(s: &str) -> String {
    sanitize(s).replace('|', "\\|").replace('\n', " ")
}

fn markdown(report: &Report) -> String {
    let mut out = String::from("## API changes\n\n");
    if report.findings.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }
    out.push_str("| severity | endpoint | rule | detail |\n|---|---|---|---|\n");
    for f in &report.findings {
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {} |",
            f.severity,
            md_cell(&f.endpoint),
            f.rule,
            md_cell(&f.detail)
        );
    }
    out
}

fn xml(s: &str) -> String {
    sanitize(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn junit(report: &Report) -> String {
    let failures = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warn)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"stateanchor-gate\" tests=\"{}\" failures=\"{failures}\">",
        report.findings.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"api-changes\" tests=\"{}\" failures=\"{failures}\">",
        report.findings.len()
    );
    for f in &report.findings {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{} {}\"",
            xml(&f.endpoint),
            f.rule,
            f.fingerprint
        );
        if f.severity >= Severity::Warn {
            let _ = writeln!(
                out,
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                f.severity,
                xml(&f.detail),
                xml(&place(f))
            );
        } else {
            out.push_str("/>\n");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn gh_escape(s: &str) -> String {
    sanitize(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_prop(s: &str) -> String {
    gh_escape(s).replace(':', "%3A").replace(',', "%2C")
}

fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let cmd = match f.severity {
            Severity::Err => "error",
            Severity::Warn => "warning",
            Severity::Info => "notice",
        };
        let mut props = vec![format!(
            "title={}",
            gh_prop(&format!("{} {}", f.rule, f.endpoint))
        )];
        if let Some(l) = f.revision.as_ref().or(f.base.as_ref()) {
            props.push(format!("file={}", gh_prop(&l.file)));
            if let Some(line) = l.line {
                props.push(format!("line={line}"));
            }
            if let Some(col) = l.column {
                props.push(format!("col={col}"));
            }
        }
        let _ = writeln!(
            out,
            "::{cmd} {}::{}",
            props.join(","),
            gh_escape(format!("{} {}", f.endpoint, f.detail).trim())
        );
    }
    out
}

/// Renders a changelog as Markdown.
#[must_use]
pub fn changelog_markdown(c: &Changelog) -> String {
    let mut out = String::from("# API changelog\n");
    if c.endpoints.is_empty() {
        out.push_str("\nNo changes.\n");
    }
    for e in &c.endpoints {
        let title = if e.endpoint.is_empty() {
            "Document-wide".to_owned()
        } else {
            format!("`{}`", md_cell(&e.endpoint))
        };
        let _ = writeln!(out, "\n## {title} ({})\n", e.severity);
        for f in &e.changes {
            let _ = writeln!(
                out,
                "- **{}** `{}`: {}",
                f.severity,
                f.rule,
                md_cell(&f.detail)
            );
        }
    }
    out
}

/// Renders a changelog as JSON (`{"endpoints": [...]}`).
#[must_use]
pub fn changelog_json(c: &Changelog) -> String {
    let mut s = serde_json::to_string_pretty(c).unwrap_or_else(|_| "{\"endpoints\":[]}".to_owned());
    s.push('\n');
    s
}
