//! Alerts (`spec/monitoring.md`): a project's webhooks, each new anomaly
//! sent to each of them (JSON, or a Slack-compatible `{"text"}`), signed
//! with HMAC-SHA256 and retried with backoff; every attempt kept for the
//! admins to see. Deliveries run in the background: a failing webhook never
//! blocks the gate or the monitoring run.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use compliance::monitor::Anomaly;
use compliance::principal::KeyRecord;
use compliance::time::format_time;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Compliance, blocking, invalid, now_ms};
use crate::keys::random_id;
use crate::{Error, Result};

/// Delivery attempts kept per project.
const DELIVERIES_KEPT: usize = 200;
/// Attempts per delivery.
pub const ATTEMPTS: u32 = 4;

/// The body format of a webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// `{"project", "anomaly": {...}}`.
    #[default]
    Json,
    /// Slack's incoming-webhook `{"text"}`.
    Slack,
}

/// One webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to POST (http or https).
    pub url: String,
    /// The body format.
    #[serde(default)]
    pub format: WebhookFormat,
    /// The HMAC-SHA256 key the body is signed with (at least 16 characters);
    /// never shown again.
    pub secret: String,
}

/// A project's alert settings: private configuration, not log records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Webhooks anomalies are sent to.
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// Who gets the weekly digest by mail.
    #[serde(default)]
    pub digest_recipients: Vec<String>,
}

impl AlertSettings {
    fn check(&self) -> Result<()> {
        if self.webhooks.len() > 10 {
            return Err(invalid("at most 10 webhooks"));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let url = reqwest::Url::parse(&w.url)
                .map_err(|e| invalid(format!("webhooks[{i}].url is not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(invalid(format!(
                    "webhooks[{i}].url must be an http or https URL"
                )));
            }
            if w.secret.chars().count() < 16 {
                return Err(invalid(format!(
                    "webhooks[{i}].secret must be at least 16 characters"
                )));
            }
        }
        if self.digest_recipients.len() > 50 {
            return Err(invalid("at most 50 digest recipients"));
        }
        for r in &self.digest_recipients {
            if r.parse::<lettre::Address>().is_err() {
                return Err(invalid(format!("{r:?} is not a mail address")));
            }
        }
        Ok(())
    }

    /// The settings as shown: secrets redacted.
    fn shown(&self) -> Value {
        json!({
            "webhooks": self.webhooks.iter().map(|w| json!({"url": w.url, "format": w.format, "secret": "(set)"})).collect::<Vec<_>>(),
            "digest_recipients": self.digest_recipients,
        })
    }
}

/// One attempt to deliver an anomaly to a webhook.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// The delivery (all attempts of one anomaly to one webhook).
    pub delivery_id: String,
    /// The anomaly.
    pub anomaly_id: String,
    /// The webhook.
    pub url: String,
    /// 1-based attempt.
    pub attempt: u32,
    /// When (RFC 3339).
    pub at: String,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Delivery attempts by project, the newest last.
#[derive(Default)]
pub struct Deliveries(Mutex<HashMap<String, VecDeque<Delivery>>>);

impl Deliveries {
    fn push(&self, project: &str, d: Delivery) {
        let mut all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = all.entry(project.to_owned()).or_default();
        if list.len() == DELIVERIES_KEPT {
            list.pop_front();
        }
        list.push_back(d);
    }

    fn of(&self, project: &str) -> Vec<Delivery> {
        let all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.get(project)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The `X-StateAnchor-Signature` of a body: `sha256=` and the hex HMAC-SHA256
/// of `timestamp.body` under the webhook's secret.
#[must_use]
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn body_of(project: &str, a: &Anomaly, format: WebhookFormat, log_url: &str) -> Value {
    let f = &a.finding;
    match format {
        WebhookFormat::Json => json!({
            "project": project,
            "anomaly": {"id": a.id, "rule": f.rule, "day": f.day, "subject": f.subject,
                "observed": f.observed, "threshold": f.threshold, "detail": f.detail},
            "log_url": log_url,
        }),
        WebhookFormat::Slack => json!({
            "text": format!("StateAnchor anomaly in {project}: {} ({}, {}). {}", f.detail, f.rule, f.day, a.id),
        }),
    }
}

impl Compliance {
    /// A project's alert settings.
    pub(crate) fn alert_settings(&self, project: &str) -> Result<AlertSettings> {
        match self.records.alerts(project)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Corrupt(format!("alert settings of {project}: {e}"))),
            None => Ok(AlertSettings::default()),
        }
    }

    /// Replaces a project's alert settings (log admin).
    ///
    /// # Errors
    /// Refusals naming the bad field; storage failures.
    pub async fn put_alert_settings(
        &self,
        caller: &KeyRecord,
        project: &str,
        settings: AlertSettings,
    ) -> Result<Value> {
        super::admin::require_log_admin(caller)?;
        self.project(project).await?;
        settings.check()?;
        let bytes =
            serde_json::to_vec(&settings).map_err(|e| Error::storage("alert settings", e))?;
        let (records, id) = (self.records.clone(), project.to_owned());
        blocking(move || records.put_alerts(&id, &bytes)).await?;
        Ok(settings.shown())
    }

    /// A project's alert settings (secrets redacted) and the latest delivery
    /// attempts (log admin).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn alert_view(&self, caller: &KeyRecord, project: &str) -> Result<Value> {
        super::admin::require_log_admin(caller)?;
        self.project(project).await?;
        let mut v = self.alert_settings(project)?.shown();
        v["deliveries"] = json!(self.deliveries.of(project));
        Ok(v)
    }

    /// Sends new anomalies to the project's webhooks, in the background.
    pub(crate) async fn alert(&self, project: &str, anomalies: &[Anomaly]) {
        let settings = match self.alert_settings(project) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(project, error = %e, "reading alert settings");
                return;
            }
        };
        for w in settings.webhooks {
            for a in anomalies {
                let body = body_of(project, a, w.format, &self.public_url);
                let job = DeliveryJob {
                    project: project.to_owned(),
                    anomaly: a.id.clone(),
                    webhook: w.clone(),
                    body,
                    deliveries: self.deliveries.clone(),
                    retry_base: self.retry_base,
                };
                tokio::spawn(job.run());
            }
        }
    }
}

/// One anomaly to one webhook, with retries.
struct DeliveryJob {
    project: String,
    anomaly: String,
    webhook: Webhook,
    body: Value,
    deliveries: Arc<Deliveries>,
    retry_base: Duration,
}

impl DeliveryJob {
    async fn run(self) {
        let id = random_id("dlv");
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "building the webhook client");
                return;
            }
        };
        let body = self.body.to_string();
        for attempt in 1..=ATTEMPTS {
            let timestamp = (now_ms() / 1000).to_string();
            let sent = client
                .post(&self.webhook.url)
                .header("content-type", "application/json")
                .header("user-agent", "stateanchor-log")
                .header("x-stateanchor-delivery", &id)
                .header("x-stateanchor-timestamp", &timestamp)
                .header(
                    "x-stateanchor-signature",
                    signature(&self.webhook.secret, &timestamp, body.as_bytes()),
                )
                .body(body.clone())
                .send()
                .await;
            let (status, error) = match sent {
                Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
                Ok(r) => (
                    Some(r.status().as_u16()),
                    Some(format!("HTTP {}", r.status())),
                ),
                Err(e) => (None, Some(e.without_url().to_string())),
            };
            let ok = error.is_none();
            self.deliveries.push(
                &self.project,
                Delivery {
                    delivery_id: id.clone(),
                    anomaly_id: self.anomaly.clone(),
                    url: self.webhook.url.clone(),
                    attempt,
                    at: format_time(now_ms()),
                    status,
                    error,
                },
            );
            if ok {
                return;
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(self.retry_base * 2u32.pow(attempt - 1)).await;
            }
        }
        tracing::warn!(project = %self.project, anomaly = %self.anomaly, url = %self.webhook.url, "a webhook failed every attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // RFC 4231-style check against a value computed independently
        // (python3 -c "import hmac,hashlib;print(hmac.new(b'0123456789abcdef',b'1700000000.{}',hashlib.sha256).hexdigest())").
        assert_eq!(
            signature("0123456789abcdef", "1700000000", b"{}"),
            "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
    }
}
