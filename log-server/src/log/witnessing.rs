//! The log's side of `c2sp.org/tlog-witness`: after each checkpoint is
//! signed, every witness of the log's policy (`serve --witness-policy`) is
//! asked to cosign it with `add-checkpoint`, in parallel, over kept-alive
//! connections and with a deadline. The checkpoint the log serves is the
//! newest one whose cosignatures meet the policy's quorum.
//!
//! Each witness's last cosigned size is kept in the store, so that a restart
//! or another frontend starts from it rather than from zero. A `409` with
//! `text/x.tlog.size` is answered at once by a new request from the size
//! the witness names; every other failure (`403`, `404`, `422`, `5xx`, a
//! timeout, a refused connection, a cosignature that does not verify) is
//! retried later with exponential backoff, counted in the metrics, logged,
//! and shown on `/healthz`. See `spec/witnessing.md`.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tlog::{AddCheckpointRequest, CosignerVerifier, Hash, Note, NoteSignature, Policy};

use crate::{Error, Result, error_chain};

/// Content type of a witness's `409` answer: its tree size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Most `409` answers followed within one round for one witness (each
/// names the size the witness holds; more than a couple means the witness
/// moves under us or disagrees with itself).
const MAX_CONFLICTS: usize = 3;

/// Longest wait before a failing witness is asked again.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Most bytes read of a witness's answer.
const MAX_RESPONSE: usize = 64 * 1024;

/// Tuning of witnessing.
#[derive(Clone, Debug)]
pub struct WitnessingConfig {
    /// The policy: the log among its logs, the witnesses with their
    /// submission prefixes, and the quorum.
    pub policy: Policy,
    /// The policy file as given, served in `/v1/log` (`witness_policy`).
    pub policy_text: String,
    /// Deadline of one `add-checkpoint` request.
    pub request_timeout: Duration,
    /// Shortest wait before a failing witness is asked again (doubled on
    /// each further failure, up to a minute).
    pub min_backoff: Duration,
}

/// One witness of the policy, as the log sees it.
struct Witness {
    /// Its name in the policy.
    name: String,
    key: CosignerVerifier,
    /// `<submission prefix>/add-checkpoint`.
    url: String,
    state: Mutex<WitnessState>,
}

/// What the log knows of a witness.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WitnessState {
    /// The size the witness holds as far as the log knows: the `old` size
    /// of the next request.
    pub size: u64,
    /// The newest checkpoint it cosigned for us: tree size and the
    /// cosignature's timestamp (seconds).
    pub cosigned_size: Option<u64>,
    /// Its timestamp.
    pub cosigned_at: Option<u64>,
    /// Failures in a row.
    pub failures: u32,
    /// The last failure, as logged.
    pub last_error: Option<String>,
    /// When it may be asked again (after a failure).
    #[serde(skip)]
    retry_at: Option<Instant>,
}

/// A witness's state as `/healthz` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct WitnessHealth {
    /// Its name in the policy.
    pub name: String,
    /// Its verifier key.
    pub key: String,
    /// What the log knows of it.
    #[serde(flatten)]
    pub state: WitnessState,
}

/// How one witness answered one round.
enum Outcome {
    /// A cosignature that verifies.
    Cosigned(NoteSignature),
    /// Not asked: still backing off after a failure.
    BackingOff,
    /// Failed (already logged and counted).
    Failed,
}

/// The witnesses of a log and the client that asks them.
pub struct Witnessing {
    config: WitnessingConfig,
    witnesses: Vec<Witness>,
    http: reqwest::Client,
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Witnessing {
    /// Sets up the witnesses of `config`'s policy, which must list the
    /// log's key among its logs and give every witness a URL.
    ///
    /// # Errors
    /// A policy that does not name this log, a witness without a URL, or an
    /// HTTP client that cannot be built.
    pub fn new(config: WitnessingConfig, log_key: &tlog::VerifierKey) -> Result<Self> {
        let policy = &config.policy;
        if !policy.logs().iter().any(|l| &l.key == log_key) {
            return Err(Error::Config(format!(
                "the witness policy does not list this log's key ({}) on a `log` line",
                log_key.to_text()
            )));
        }
        let mut witnesses = Vec::new();
        for w in policy.witnesses() {
            let Some(url) = &w.url else {
                return Err(Error::Config(format!(
                    "witness {:?} of the policy has no submission URL; the log must know where to ask it",
                    w.name
                )));
            };
            witnesses.push(Witness {
                name: w.name.clone(),
                key: w.key.clone(),
                url: format!("{}/add-checkpoint", url.trim_end_matches('/')),
                state: Mutex::new(WitnessState::default()),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("stateanchor-log/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("building the witness client: {e}")))?;
        Ok(Witnessing {
            config,
            witnesses,
            http,
        })
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.config.policy
    }

    /// The policy file as given.
    pub fn policy_text(&self) -> &str {
        &self.config.policy_text
    }

    /// Takes the sizes kept in the store (by witness key).
    pub fn load_sizes(&self, sizes: &[(String, u64)]) {
        for w in &self.witnesses {
            let key = w.key.to_text();
            if let Some((_, size)) = sizes.iter().find(|(k, _)| *k == key) {
                lock(&w.state).size = *size;
            }
        }
    }

    /// Every witness's state, for `/healthz`.
    pub fn health(&self) -> Vec<WitnessHealth> {
        self.witnesses
            .iter()
            .map(|w| WitnessHealth {
                name: w.name.clone(),
                key: w.key.to_text(),
                state: lock(&w.state).clone(),
            })
            .collect()
    }

    /// How long until a witness that is backing off may be asked again
    /// (`None` if none is).
    pub fn next_retry(&self) -> Option<Duration> {
        let now = Instant::now();
        self.witnesses
            .iter()
            .filter_map(|w| lock(&w.state).retry_at)
            .map(|t| t.saturating_duration_since(now))
            .min()
    }

    /// Asks every witness to cosign `note` (the log's signed checkpoint of
    /// `size`) and returns the note with the cosignatures that verify
    /// appended, if they meet the quorum.
    ///
    /// `prove(old, new)` is the consistency proof between two sizes;
    /// `keep(witness key, size)` keeps a witness's size in the store.
    pub async fn round(
        &self,
        note: &str,
        size: u64,
        metrics: &crate::metrics::Metrics,
        prove: impl Fn(u64, u64) -> Result<Vec<Hash>> + Sync,
        keep: impl Fn(&str, u64) + Sync,
    ) -> Option<String> {
        let parsed = match Note::from_bytes(note.as_bytes()) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "witnessing: the log's own checkpoint does not parse");
                return None;
            }
        };
        let asks = self
            .witnesses
            .iter()
            .map(|w| self.ask(w, note, parsed.text(), size, metrics, &prove, &keep));
        let outcomes = futures_util::future::join_all(asks).await;
        let mut cosigned = parsed;
        let mut any = false;
        for outcome in outcomes {
            if let Outcome::Cosigned(sig) = outcome {
                cosigned.push_signature(sig);
                any = true;
            }
        }
        let quorum_none = self.config.policy.quorum_is_none();
        if !any && !quorum_none {
            return None;
        }
        let bytes = cosigned.to_bytes();
        match self.config.policy.verify_checkpoint(&bytes, unix_now()) {
            Ok(_) => String::from_utf8(bytes).ok(),
            Err(e) => {
                metrics
                    .witness_quorum_misses
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(size, error = %e, "witnessing: the checkpoint did not meet the quorum");
                None
            }
        }
    }

    /// One witness, one checkpoint: `add-checkpoint` from the size it
    /// holds, following its `409`s.
    #[allow(clippy::too_many_arguments)]
    async fn ask(
        &self,
        w: &Witness,
        note: &str,
        body: &str,
        size: u64,
        metrics: &crate::metrics::Metrics,
        prove: &(impl Fn(u64, u64) -> Result<Vec<Hash>> + Sync),
        keep: &(impl Fn(&str, u64) + Sync),
    ) -> Outcome {
        let mut old = {
            let s = lock(&w.state);
            if s.retry_at.is_some_and(|t| t > Instant::now()) {
                return Outcome::BackingOff;
            }
            s.size
        };
        for _ in 0..=MAX_CONFLICTS {
            let result = self.request(w, note, body, old, size, prove).await;
            match result {
                Ok(Answer::Cosigned(sig, at)) => {
                    metrics.witness_outcome(&w.name, "cosigned");
                    keep(&w.key.to_text(), size);
                    let mut s = lock(&w.state);
                    s.size = size;
                    s.cosigned_size = Some(size);
                    s.cosigned_at = Some(at);
                    s.failures = 0;
                    s.last_error = None;
                    s.retry_at = None;
                    return Outcome::Cosigned(sig);
                }
                Ok(Answer::Holds(held)) if held != old && held <= size => {
                    metrics.witness_outcome(&w.name, "conflict");
                    tracing::info!(
                        witness = w.name,
                        believed = old,
                        holds = held,
                        "witness holds another size; asking again from it"
                    );
                    keep(&w.key.to_text(), held);
                    lock(&w.state).size = held;
                    old = held;
                }
                Ok(Answer::Holds(held)) => {
                    let why = if held > size {
                        format!(
                            "answered 409: the witness holds a larger tree ({held}) than the \
                             log's checkpoint ({size})"
                        )
                    } else {
                        format!(
                            "answered 409: the witness holds a different checkpoint of size {held} \
                             (a fork, or a checkpoint it was shown that the log never signed)"
                        )
                    };
                    self.failed(w, metrics, "conflict", why);
                    return Outcome::Failed;
                }
                Err((outcome, why)) => {
                    self.failed(w, metrics, outcome, why);
                    return Outcome::Failed;
                }
            }
        }
        self.failed(
            w,
            metrics,
            "conflict",
            format!("answered 409 (another size) {MAX_CONFLICTS} times in a row"),
        );
        Outcome::Failed
    }

    /// Records a failure: counted, logged, backed off.
    fn failed(&self, w: &Witness, metrics: &crate::metrics::Metrics, outcome: &str, why: String) {
        metrics.witness_outcome(&w.name, outcome);
        let mut s = lock(&w.state);
        s.failures = s.failures.saturating_add(1);
        let exp = self
            .config
            .min_backoff
            .saturating_mul(1 << s.failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        // Up to a quarter more, so that logs sharing a witness spread out.
        let jitter = exp.mul_f64(
            f64::from(rand_core::RngCore::next_u32(&mut rand_core::OsRng))
                / f64::from(u32::MAX)
                / 4.0,
        );
        s.retry_at = Some(Instant::now() + exp + jitter);
        tracing::warn!(
            witness = w.name,
            url = w.url,
            failures = s.failures,
            retry_in_ms = u64::try_from((exp + jitter).as_millis()).unwrap_or(u64::MAX),
            error = why,
            "witness did not cosign"
        );
        s.last_error = Some(why);
    }

    /// One `add-checkpoint` request.
    async fn request(
        &self,
        w: &Witness,
        note: &str,
        body: &str,
        old: u64,
        size: u64,
        prove: &(impl Fn(u64, u64) -> Result<Vec<Hash>> + Sync),
    ) -> std::result::Result<Answer, (&'static str, String)> {
        let consistency_proof = if tlog::consistency_proof_needed(old, size) {
            prove(old, size)
                .map_err(|e| ("error", format!("proving consistency from {old}: {e}")))?
        } else {
            Vec::new()
        };
        let request = AddCheckpointRequest {
            old_size: old,
            consistency_proof,
            checkpoint: note.as_bytes().to_vec(),
        };
        let resp = self
            .http
            .post(&w.url)
            .body(request.to_bytes())
            .send()
            .await
            .map_err(|e| {
                let outcome = if e.is_timeout() {
                    "timeout"
                } else {
                    "unreachable"
                };
                (outcome, format!("POST {}: {}", w.url, error_chain(&e)))
            })?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = read_limited(resp).await.map_err(|e| {
            (
                "unreachable",
                format!("reading the answer of {}: {e}", w.url),
            )
        })?;
        match status {
            200 => {
                let sigs = tlog::parse_cosignature_response(&bytes).map_err(|e| {
                    (
                        "bad_cosignature",
                        format!("the answer is not signature lines: {e}"),
                    )
                })?;
                let mut found = None;
                for sig in sigs {
                    if sig.name != w.key.name() || sig.key_id != w.key.key_id() {
                        continue;
                    }
                    let at = w.key.verify(body, &sig).map_err(|e| {
                        (
                            "bad_cosignature",
                            format!("its cosignature does not verify with its key: {e}"),
                        )
                    })?;
                    found = Some((sig, at));
                }
                let (sig, at) = found.ok_or((
                    "bad_cosignature",
                    "the answer has no cosignature by the witness's key".to_owned(),
                ))?;
                if at > unix_now() + tlog::MAX_COSIGNATURE_CLOCK_SKEW {
                    return Err((
                        "bad_cosignature",
                        format!("its cosignature is dated in the future ({at})"),
                    ));
                }
                Ok(Answer::Cosigned(sig, at))
            }
            409 if content_type.split(';').next().map(str::trim) == Some(SIZE_CONTENT_TYPE) => {
                let held = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| t.strip_suffix('\n'))
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or(("bad_answer", "its 409 answer is not a tree size".to_owned()))?;
                Ok(Answer::Holds(held))
            }
            _ => {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    .trim()
                    .to_owned();
                let outcome = match status {
                    403 => "forbidden",
                    404 => "unknown_log",
                    409 => "conflict",
                    422 => "inconsistent",
                    500..=599 => "server_error",
                    _ => "bad_answer",
                };
                Err((outcome, format!("answered {status}: {text}")))
            }
        }
    }
}

/// A witness's successful answers.
enum Answer {
    /// Its cosignature and timestamp.
    Cosigned(NoteSignature, u64),
    /// `409`: the size it holds.
    Holds(u64),
}

async fn read_limited(mut resp: reqwest::Response) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
        if out.len() + chunk.len() > MAX_RESPONSE {
            return Err(format!("the answer is larger than {MAX_RESPONSE} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
