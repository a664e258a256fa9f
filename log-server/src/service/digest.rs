//! The weekly digest (`spec/monitoring.md`): a project's runs, blocked
//! runs, exceptions filed and approved, P95 approval latency and open
//! anomalies over a period, computed by the export's own first pass (so its
//! figures are the export's), rendered as Markdown, HTML or JSON, and sent
//! by SMTP when the server is configured for it.

use compliance::export::Summary;
use compliance::principal::{Access, KeyRecord};
use compliance::time::{DAY_MS, format_date};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Compliance, invalid};
use crate::{Error, Result};

/// Where digests are sent from.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer over `url` (`smtp://host:port` in the clear, `smtps://` or
    /// `smtp://...?tls=required` with TLS, credentials in the URL), sending
    /// as `from`.
    ///
    /// # Errors
    /// A bad URL or address.
    pub fn new(url: &str, from: &str) -> Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| invalid(format!("--smtp-url {url:?}: {e}")))?
            .build();
        let from = from
            .parse()
            .map_err(|e| invalid(format!("--smtp-from {from:?}: {e}")))?;
        Ok(Mailer { transport, from })
    }
}

/// The figures of a digest.
#[derive(Clone, Debug, Serialize)]
pub struct Digest {
    /// The project.
    pub project_id: String,
    /// Its name.
    pub project_name: String,
    /// First day (inclusive).
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Runs (gate decisions).
    pub runs: u64,
    /// Blocked runs.
    pub blocked_runs: u64,
    /// Exceptions filed.
    pub exceptions_filed: u64,
    /// Exceptions approved (activated).
    pub exceptions_approved: u64,
    /// P95 approval latency, ms.
    pub p95_approval_latency_ms: Option<u64>,
    /// Anomalies of the period still open at its end: rule, day, detail.
    pub open_anomalies: Vec<Value>,
}

impl Digest {
    fn of(project: &str, name: &str, (from, to): (i64, i64), s: &Summary) -> Digest {
        Digest {
            project_id: project.to_owned(),
            project_name: name.to_owned(),
            from: format_date(from),
            to: format_date(to),
            runs: s.decisions.total,
            blocked_runs: s.decisions.blocked,
            exceptions_filed: s.exception_counts.created,
            exceptions_approved: s.exception_counts.activated,
            p95_approval_latency_ms: s.approval_latency.p95_ms,
            open_anomalies: s
                .monitoring
                .anomalies
                .iter()
                .filter(|(_, a)| a.acknowledged.is_none())
                .map(|(id, a)| json!({"id": id, "rule": a.rule, "day": a.day, "detail": a.detail}))
                .collect(),
        }
    }

    fn latency(&self) -> String {
        self.p95_approval_latency_ms.map_or_else(
            || "no approvals".to_owned(),
            |ms| format!("{:.1} h", ms as f64 / 3_600_000.0),
        )
    }

    /// Markdown.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        use compliance::export::md_cell;
        let mut t = format!(
            "# StateAnchor weekly digest: {} ({} to {})\n\n| | |\n|---|---|\n| Runs | {} |\n| Blocked runs | {} |\n| Exceptions filed | {} |\n| Exceptions approved | {} |\n| P95 approval latency | {} |\n| Open anomalies | {} |\n",
            md_cell(&self.project_name),
            self.from,
            self.to,
            self.runs,
            self.blocked_runs,
            self.exceptions_filed,
            self.exceptions_approved,
            self.latency(),
            self.open_anomalies.len()
        );
        if !self.open_anomalies.is_empty() {
            t.push_str("\n## Open anomalies\n\n");
            for a in &self.open_anomalies {
                t.push_str(&format!(
                    "- {} ({}, {}): {}\n",
                    md_cell(a["id"].as_str().unwrap_or("")),
                    md_cell(a["rule"].as_str().unwrap_or("")),
                    md_cell(a["day"].as_str().unwrap_or("")),
                    md_cell(a["detail"].as_str().unwrap_or(""))
                ));
            }
        }
        t
    }

    /// HTML (every string escaped).
    #[must_use]
    pub fn to_html(&self) -> String {
        let e = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;")
        };
        let mut rows = String::new();
        for (k, v) in [
            ("Runs", self.runs.to_string()),
            ("Blocked runs", self.blocked_runs.to_string()),
            ("Exceptions filed", self.exceptions_filed.to_string()),
            ("Exceptions approved", self.exceptions_approved.to_string()),
            ("P95 approval latency", self.latency()),
            ("Open anomalies", self.open_anomalies.len().to_string()),
        ] {
            rows.push_str(&format!(
                "<tr><th scope=\"row\">{k}</th><td>{}</td></tr>",
                e(&v)
            ));
        }
        let mut anomalies = String::new();
        for a in &self.open_anomalies {
            anomalies.push_str(&format!(
                "<li>{} ({}, {}): {}</li>",
                e(a["id"].as_str().unwrap_or("")),
                e(a["rule"].as_str().unwrap_or("")),
                e(a["day"].as_str().unwrap_or("")),
                e(a["detail"].as_str().unwrap_or(""))
            ));
        }
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>StateAnchor weekly digest</title></head><body><h1>StateAnchor weekly digest: {} ({} to {})</h1><table>{rows}</table>{}</body></html>",
            e(&self.project_name),
            e(&self.from),
            e(&self.to),
            if anomalies.is_empty() {
                String::new()
            } else {
                format!("<h2>Open anomalies</h2><ul>{anomalies}</ul>")
            }
        )
    }
}

impl Compliance {
    async fn digest_of(&self, project: &str, (from, to): (i64, i64)) -> Result<Digest> {
        let p = self.project(project).await?;
        let name = p.lock().await.row.name.clone();
        let period = self
            .period(&p, project, (from * DAY_MS, (to + 1) * DAY_MS))
            .await?;
        Ok(Digest::of(project, &name, (from, to), &period.summary))
    }

    /// The digest of days `from..=to` (any role of the project).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn digest(
        &self,
        caller: &KeyRecord,
        project: &str,
        days: (i64, i64),
    ) -> Result<Digest> {
        self.project_for(caller, project, Access::Read).await?;
        self.digest_of(project, days).await
    }

    /// Mails every project's weekly digest, if the server sends mail and the
    /// project has recipients; failures are logged, never fatal.
    pub async fn send_weekly_digests(&self) {
        if self.mailer.is_none() {
            return;
        }
        let records = self.records.clone();
        let Ok(projects) = super::blocking(move || records.projects()).await else {
            return;
        };
        let week = self.today();
        for p in projects {
            let has_recipients = self
                .alert_settings(&p.id)
                .is_ok_and(|a| !a.digest_recipients.is_empty());
            if !has_recipients {
                continue;
            }
            // Every frontend of a shared log schedules the digests: one
            // sends each (at most once, even if its mail server fails).
            let job = format!("digest/{}/{week}", p.id);
            match super::with_writers(&self.records, move |w| w.once(&job)).await {
                Ok(None | Some(true)) => {}
                Ok(Some(false)) => continue,
                Err(e) => {
                    tracing::error!(project = %p.id, error = %e, "claiming the weekly digest");
                    continue;
                }
            }
            if let Err(e) = self.send_digest(None, &p.id).await {
                tracing::error!(project = %p.id, error = %e, "sending the weekly digest");
            }
        }
    }

    /// Mails the digest of the 7 days up to yesterday to the project's
    /// recipients (log admin, or the weekly schedule with `caller` `None`).
    /// Returns the recipients it was sent to.
    ///
    /// # Errors
    /// No SMTP configured; no recipients; the mail server's refusal.
    pub async fn send_digest(
        &self,
        caller: Option<&KeyRecord>,
        project: &str,
    ) -> Result<Vec<String>> {
        if let Some(c) = caller {
            super::admin::require_log_admin(c)?;
        }
        let mailer = self.mailer.clone().ok_or_else(|| {
            invalid("this server sends no mail: start it with --smtp-url and --smtp-from")
        })?;
        let today = self.today();
        let digest = self.digest_of(project, (today - 7, today - 1)).await?;
        let recipients = self.alert_settings(project)?.digest_recipients;
        if recipients.is_empty() {
            return Err(invalid(format!(
                "project {project} has no digest recipients"
            )));
        }
        let mut builder = Message::builder()
            .from(mailer.from.clone())
            .subject(format!(
                "StateAnchor weekly digest: {} ({} to {})",
                digest.project_name, digest.from, digest.to
            ));
        for r in &recipients {
            let to: Mailbox = r
                .parse()
                .map_err(|e| invalid(format!("{r:?} is not a mail address: {e}")))?;
            builder = builder.to(to);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                digest.to_markdown(),
                digest.to_html(),
            ))
            .map_err(|e| Error::storage("building the digest mail", e))?;
        mailer
            .transport
            .send(message)
            .await
            .map_err(|e| Error::Mail(e.to_string()))?;
        Ok(recipients)
    }
}
