//! OpenID Connect sign-in for the cockpit: the log is a confidential
//! relying party of one identity provider (`serve --oidc-issuer`), with the
//! authorization code flow, PKCE (S256), `state` and `nonce` (see
//! `spec/cockpit.md`, "Signing in with an identity provider").
//!
//! The protocol is the `openidconnect` crate's: discovery, the code
//! exchange and every check of the ID token (signature against the
//! provider's JWKS, `iss`, `aud`, `exp`, `nonce`, allowed algorithms). This
//! module adds what the crate leaves to its caller:
//!
//! 1. **Discovery and keys, cached.** The provider's metadata and JWKS are
//!    fetched at first use and kept for [`METADATA_TTL_MS`]; an ID token
//!    signed with a key the cached JWKS does not hold (an unknown `kid`:
//!    the provider rotated its keys) makes the log fetch the JWKS again,
//!    once, and verify again.
//! 2. **Pending sign-ins, single use, in the store.** [`OidcSignIn::begin`]
//!    keeps the `state` with the SHA-256 of a random browser binding (the
//!    `sa_oidc` cookie) in the store ([`PendingSignIns`]), for
//!    [`PENDING_TTL_MS`]; the PKCE verifier and the `nonce` are derived
//!    from the binding, so the store holds no secret of the flow.
//!    [`OidcSignIn::finish`] removes the pending sign-in **before** it
//!    checks anything: a `state` is used once, a replayed callback is
//!    refused, and a callback is accepted only from the browser that
//!    started it (login CSRF). At most [`MAX_PENDING`] sign-ins wait at
//!    once. Behind several frontends of one database the callback may
//!    reach any of them, and a restart between start and callback loses
//!    nothing.
//! 3. **Time.** The ID token is checked against the service's clock, with
//!    [`CLOCK_SKEW_MS`] of tolerance both ways: expired more than that ago,
//!    or issued more than that in the future, is refused.
//!
//! The provider is reached without following redirects (a redirect is a
//! failure), with a deadline of [`HTTP_TIMEOUT`] per request.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use compliance::principal::IdpSubject;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse as _,
};

use super::{blocking, forbidden};
use crate::keys::{key_hash, random_secret};
use crate::storage::{PendingSignInRow, SessionStore};
use crate::{Error, Result};

/// How long a pending sign-in waits for its callback (10 minutes).
pub const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// Most sign-ins pending at once; past it, new ones are refused (503).
pub const MAX_PENDING: usize = 10_000;
/// Tolerance of the ID token's times against the log's clock (60 s).
pub const CLOCK_SKEW_MS: i64 = 60 * 1000;
/// How long discovery is trusted before it is fetched again (1 hour).
pub const METADATA_TTL_MS: i64 = 60 * 60 * 1000;
/// Deadline of one request to the identity provider.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Signature algorithms accepted for ID tokens: asymmetric ones only (a
/// token MACed with the client secret, or unsigned, is refused).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The identity provider the log trusts, and the log's client there.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The issuer (`https://...`; `http://` only on a loopback address).
    pub issuer: String,
    /// The log's client ID at the provider.
    pub client_id: String,
    /// The log's client secret (read from a file; never logged).
    pub client_secret: String,
    /// The callback the provider sends the browser to:
    /// `<public URL>/ui/oidc/callback`.
    pub redirect_url: String,
    /// The provider's name on the sign-in button.
    pub provider_name: String,
    /// The ID token's claim that lists the person's groups (`groups` for
    /// Okta, Entra ID and Keycloak, as the provider is configured), read
    /// for the projects' `idp_groups`; `None`: groups are not read.
    pub groups_claim: Option<String>,
}

/// Whether `issuer` is an issuer the log may trust: an `https://` URL, or
/// an `http://` URL of a loopback host (`127.0.0.1`, `localhost`, `[::1]`:
/// a provider on the same machine, as in the tests).
#[must_use]
pub fn acceptable_issuer(issuer: &str) -> bool {
    if issuer.len() > 500 || issuer.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if let Some(rest) = issuer.strip_prefix("https://") {
        return !rest.is_empty() && !rest.starts_with('/');
    }
    let Some(rest) = issuer.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if authority.starts_with("[::1]") {
        "[::1]"
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    // After the host: nothing, or `:` and a port.
    let after = authority.get(host.len()..).unwrap_or("x");
    let port_ok = after.is_empty()
        || after.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    port_ok && matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Whether two issuer identifiers name the same issuer (equal, once a
/// trailing `/` is ignored).
#[must_use]
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// A started sign-in: where to send the browser, and the binding to keep
/// in its cookie.
pub struct Begun {
    /// The provider's authorization URL (with `state`, `nonce`, PKCE).
    pub url: String,
    /// The browser binding (the `sa_oidc` cookie's value).
    pub binding: String,
}

/// What the provider's callback carried.
#[derive(Debug, Default)]
pub struct Callback {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error` (the provider refused or the person cancelled).
    pub error: Option<String>,
    /// `iss` (RFC 9207), when the provider sends it.
    pub iss: Option<String>,
}

impl Callback {
    /// The code of a callback from `provider` (named in the refusals), at
    /// most `max_len` bytes long.
    ///
    /// # Errors
    /// A refusal (403) when the provider answered an `error`, or sent no
    /// code (or an empty or overlong one).
    pub(crate) fn code(&self, provider: &str, max_len: usize) -> Result<String> {
        if let Some(error) = &self.error {
            return Err(refused(format!(
                "{provider} answered {:?}",
                error.chars().take(100).collect::<String>()
            )));
        }
        self.code
            .clone()
            .filter(|c| !c.is_empty() && c.len() <= max_len)
            .ok_or_else(|| refused("the callback has no code"))
    }
}

/// A person the provider vouched for.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The issuer and subject of the ID token.
    pub idp: IdpSubject,
    /// The token's `email`, only when its `email_verified` is `true`.
    pub email: Option<String>,
    /// The token's groups (the claim [`OidcConfig::groups_claim`] names),
    /// when the log reads them.
    pub groups: Option<Vec<String>>,
    /// The project the sign-in was started for, if one was named.
    pub project: Option<String>,
}

/// Sign-ins started and not finished yet, in the store (by the SHA-256 of
/// their `state`): single use, bound to the browser that started them (the
/// SHA-256 of a random binding, kept in its cookie), for
/// [`PENDING_TTL_MS`], at most [`MAX_PENDING`]. In the store rather than
/// this process's memory, a sign-in started on one frontend finishes on
/// another, and survives a restart.
#[derive(Clone)]
pub struct PendingSignIns {
    store: Arc<dyn SessionStore>,
}

/// A pending sign-in taken back.
#[derive(Debug)]
pub(crate) struct Taken {
    /// The project it was started for, if named.
    pub project: Option<String>,
    /// The browser's binding, which the flow's secrets derive from
    /// ([`derived`]).
    pub binding: String,
}

/// A secret of one sign-in derived from its browser binding: the SHA-256
/// of a label (`purpose`) and the binding, base64url without padding (43
/// characters, a valid PKCE verifier). The binding is 256 random bits that
/// only the browser keeps (the store has its SHA-256), so a derived value
/// is as unguessable as a random one, and nothing secret is stored.
pub(crate) fn derived(binding: &str, purpose: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::new()
        .chain_update(b"stateanchor sign-in\0")
        .chain_update(purpose.as_bytes())
        .chain_update(b"\0")
        .chain_update(binding.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

impl PendingSignIns {
    /// Pending sign-ins kept in `store`.
    #[must_use]
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        PendingSignIns { store }
    }

    /// A new browser binding, for the cookie of one sign-in.
    pub(crate) fn new_binding() -> String {
        random_secret("sao")
    }

    /// Keeps a sign-in started at `now` under `state`, bound to the browser
    /// holding `binding`.
    ///
    /// # Errors
    /// [`Error::Pushback`] when [`MAX_PENDING`] sign-ins are pending;
    /// storage failures.
    pub(crate) async fn insert(
        &self,
        state: &str,
        binding: &str,
        now: i64,
        project: Option<String>,
    ) -> Result<()> {
        let store = self.store.clone();
        let id = key_hash(state);
        let row = PendingSignInRow {
            binding_hash: key_hash(binding),
            created_at: now,
            project,
        };
        let kept = blocking(move || {
            store.put_pending_sign_in(&id, &row, now - PENDING_TTL_MS, MAX_PENDING)
        })
        .await?;
        if kept { Ok(()) } else { Err(Error::Pushback) }
    }

    /// Removes the sign-in of `state` (used up whatever follows) and checks
    /// that it is live at `now` and that `binding` is the browser's that
    /// started it.
    ///
    /// # Errors
    /// Refusals (403) for a missing, unknown, used or expired `state`, or
    /// another browser; storage failures.
    pub(crate) async fn take(
        &self,
        state: Option<String>,
        binding: Option<&str>,
        now: i64,
    ) -> Result<Taken> {
        let state = state
            .filter(|s| !s.is_empty() && s.len() <= 200)
            .ok_or_else(|| refused("the callback has no state"))?;
        let store = self.store.clone();
        let id = key_hash(&state);
        let row = blocking(move || store.take_pending_sign_in(&id)).await?;
        let row = row.ok_or_else(|| {
            refused("unknown or already used sign-in state (a replayed or forged callback); start again")
        })?;
        if !live(row.created_at, now) {
            return Err(refused(
                "this sign-in took longer than 10 minutes; start again",
            ));
        }
        let binding = binding.filter(|b| {
            // Constant time: every byte is compared.
            key_hash(b)
                .iter()
                .zip(row.binding_hash.iter())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
        });
        let Some(binding) = binding else {
            return Err(refused(
                "this sign-in was started in another browser (or its cookie was lost); start again",
            ));
        };
        Ok(Taken {
            project: row.project,
            binding: binding.to_owned(),
        })
    }
}

#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    jwks: CoreJsonWebKeySet,
    fetched_at: i64,
}

/// The log's relying party of one identity provider.
pub struct OidcSignIn {
    config: OidcConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
    pending: PendingSignIns,
}

fn provider_error(what: &str, e: impl std::fmt::Display) -> Error {
    tracing::warn!(error = %e, "identity provider: {what}");
    Error::IdentityProvider(format!("{what}: {e}"))
}

pub(crate) fn refused(what: impl std::fmt::Display) -> Error {
    forbidden(format!("sign-in refused: {what}"))
}

impl OidcSignIn {
    /// A relying party of the provider `config` names, keeping its pending
    /// sign-ins in `pending`.
    ///
    /// # Errors
    /// [`Error::Config`] for an issuer that is neither https nor loopback,
    /// a malformed redirect URL, an empty client ID or secret.
    pub fn new(config: OidcConfig, pending: PendingSignIns) -> Result<Self> {
        if !acceptable_issuer(&config.issuer) {
            return Err(Error::Config(format!(
                "--oidc-issuer must be the identity provider's https URL (http only on 127.0.0.1, localhost or [::1]), got {:?}",
                config.issuer
            )));
        }
        if config.client_id.trim().is_empty() || config.client_secret.trim().is_empty() {
            return Err(Error::Config(
                "the OIDC client ID and client secret must not be empty".into(),
            ));
        }
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| Error::Config(format!("--oidc-issuer: {e}")))?;
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| Error::Config(format!("the OIDC redirect URL: {e}")))?;
        let http = reqwest::Client::builder()
            // Following redirects would open the log to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| Error::Config(format!("the OIDC HTTP client: {e}")))?;
        Ok(OidcSignIn {
            config,
            issuer,
            redirect,
            http,
            discovered: tokio::sync::Mutex::new(None),
            pending,
        })
    }

    /// The provider's name, for the sign-in button.
    #[must_use]
    pub fn provider_name(&self) -> &str {
        &self.config.provider_name
    }

    /// The issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The provider's metadata and keys: cached, fetched when missing or
    /// older than [`METADATA_TTL_MS`].
    async fn discovered(&self, now: i64) -> Result<Discovered> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref()
            && now - d.fetched_at < METADATA_TTL_MS
            && now >= d.fetched_at
        {
            return Ok(d.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| provider_error("discovery failed", e))?;
        let d = Discovered {
            jwks: metadata.jwks().clone(),
            metadata,
            fetched_at: now,
        };
        tracing::info!(issuer = %self.config.issuer, keys = d.jwks.keys().len(), "identity provider discovered");
        *cached = Some(d.clone());
        Ok(d)
    }

    /// Fetches the provider's JWKS again (its keys rotated) and caches it.
    async fn refetch_keys(&self, d: &Discovered) -> Result<CoreJsonWebKeySet> {
        let jwks = CoreJsonWebKeySet::fetch_async(d.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| provider_error("fetching the JWKS failed", e))?;
        tracing::info!(issuer = %self.config.issuer, keys = jwks.keys().len(), "identity provider keys fetched again (unknown key ID)");
        let mut cached = self.discovered.lock().await;
        if let Some(c) = cached.as_mut() {
            c.jwks = jwks.clone();
        }
        Ok(jwks)
    }

    /// Starts a sign-in at `now`: a new `state` and browser binding, kept
    /// as pending, and the `nonce` and PKCE verifier derived from the
    /// binding; `project` (optional) is the project the person means to
    /// sign in to.
    ///
    /// # Errors
    /// [`Error::IdentityProvider`] when discovery fails;
    /// [`Error::Pushback`] when [`MAX_PENDING`] sign-ins are pending.
    pub async fn begin(&self, now: i64, project: Option<String>) -> Result<Begun> {
        let d = self.discovered(now).await?;
        let client = CoreClient::from_provider_metadata(
            d.metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let binding = PendingSignIns::new_binding();
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&pkce_verifier(&binding));
        let nonce = nonce_of(&binding);
        let (url, state, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                move || nonce,
            )
            .set_pkce_challenge(challenge)
            // The address invites a principal at its first sign-in
            // (`Profile::email`); the subject is the identity.
            .add_scope(Scope::new("email".into()))
            .url();
        self.pending
            .insert(state.secret(), &binding, now, project)
            .await?;
        Ok(Begun {
            url: url.to_string(),
            binding,
        })
    }

    /// Finishes a sign-in at `now` from the provider's callback and the
    /// browser's binding cookie: the pending sign-in of its `state` (used
    /// up whatever follows), the code exchanged with the PKCE verifier, the
    /// ID token verified. Returns who the provider vouched for.
    ///
    /// # Errors
    /// A refusal (403) for an unknown, used or expired `state`, another
    /// browser's callback, a provider error, an ID token that fails a
    /// check; [`Error::IdentityProvider`] when the provider cannot be
    /// reached or answers malformed data.
    pub async fn finish(
        &self,
        callback: Callback,
        binding: Option<&str>,
        now: i64,
    ) -> Result<Verified> {
        // 1. The pending sign-in of this state, removed now (single use),
        // 2. from the browser that started it.
        let taken = self
            .pending
            .take(callback.state.clone(), binding, now)
            .await?;
        // 3. The provider's answer.
        let code = callback.code("the identity provider", 2048)?;
        if let Some(iss) = &callback.iss
            && !same_issuer(iss, &self.config.issuer)
        {
            return Err(refused("the callback names another issuer (iss)"));
        }
        // 4. The code for tokens, with the PKCE verifier.
        let d = self.discovered(now).await?;
        let client = CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| provider_error("the provider has no token endpoint", e))?
            .set_pkce_verifier(pkce_verifier(&taken.binding))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "identity provider: the code exchange failed");
                refused("the identity provider did not exchange the code")
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| refused("the identity provider sent no ID token"))?;
        // 5. The ID token: signature, iss, aud, exp, iat, nonce; once more
        // with the provider's keys fetched again if its key is unknown.
        type Claimed = (String, Option<String>);
        let check = |jwks: CoreJsonWebKeySet| -> Result<std::result::Result<Claimed, ClaimsVerificationError>> {
            let verifier = self.verifier(jwks, now)?;
            Ok(id_token.claims(&verifier, &nonce_of(&taken.binding)).map(|claims| {
                let email = claims
                    .email()
                    .filter(|_| claims.email_verified() == Some(true))
                    .map(|e| e.as_str().to_owned());
                (claims.subject().as_str().to_owned(), email)
            }))
        };
        let mut outcome = check(d.jwks.clone())?;
        if matches!(
            outcome,
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
            ))
        ) {
            let jwks = self.refetch_keys(&d).await?;
            outcome = check(jwks)?;
        }
        let (subject, email) = outcome.map_err(token_refused)?;
        let idp = IdpSubject {
            issuer: self.config.issuer.clone(),
            subject,
        };
        // The groups, from the token just verified (the crate knows
        // standard claims only).
        let groups = match &self.config.groups_claim {
            Some(claim) => Some(groups_in(id_token, claim)?),
            None => None,
        };
        Ok(Verified {
            idp,
            email,
            groups,
            project: taken.project,
        })
    }

    fn verifier(&self, jwks: CoreJsonWebKeySet, now: i64) -> Result<CoreIdTokenVerifier<'static>> {
        let late = DateTime::<Utc>::from_timestamp_millis(now - CLOCK_SKEW_MS)
            .ok_or_else(|| Error::Config("the clock is out of range".into()))?;
        let latest_iat = DateTime::<Utc>::from_timestamp_millis(now + CLOCK_SKEW_MS)
            .ok_or_else(|| Error::Config("the clock is out of range".into()))?;
        Ok(CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.config.client_id.clone()),
            ClientSecret::new(self.config.client_secret.clone()),
            self.issuer.clone(),
            jwks,
        )
        .set_allowed_algs(ALLOWED_ALGS)
        // `exp` is compared with this time: a token expired less than the
        // skew ago still passes.
        .set_time_fn(move || late)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > latest_iat {
                Err(FUTURE_IAT.to_owned())
            } else {
                Ok(())
            }
        }))
    }
}

/// Most groups read from one ID token, and the longest name.
const MAX_GROUPS: usize = 1_000;
const MAX_GROUP_NAME: usize = 200;

/// The groups an ID token lists in `claim`, once the token has been
/// verified: its payload is read again as JSON (the signature and every
/// standard claim were checked by the crate). No claim, `null`: none. A
/// claim that is not a list of strings, or more than [`MAX_GROUPS`] of
/// them, is refused (the provider is misconfigured: nothing is granted).
fn groups_in<T: serde::Serialize>(id_token: &T, claim: &str) -> Result<Vec<String>> {
    use base64::Engine as _;
    let malformed = || {
        refused(format!(
            "the ID token's {claim:?} claim is not a list of group names"
        ))
    };
    let compact = serde_json::to_value(id_token).map_err(|_| malformed())?;
    let payload = compact
        .as_str()
        .and_then(|jwt| jwt.split('.').nth(1))
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .ok_or_else(malformed)?;
    match payload.get(claim) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) if items.len() <= MAX_GROUPS => items
            .iter()
            .map(|g| {
                g.as_str()
                    .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_NAME)
                    .map(str::to_owned)
                    .ok_or_else(malformed)
            })
            .collect(),
        Some(_) => Err(malformed()),
    }
}

/// The issue-time check's message.
const FUTURE_IAT: &str = "issued in the future (beyond the allowed clock skew)";

/// An ID token refused by the verifier, in words safe to show (the
/// verifier's own message is logged).
fn token_refused(e: ClaimsVerificationError) -> Error {
    let why = match &e {
        // The crate reports the issue-time check as `Expired` too.
        ClaimsVerificationError::Expired(m) if m.contains(FUTURE_IAT) => {
            "the ID token was issued in the future (beyond the allowed clock skew)"
        }
        ClaimsVerificationError::Expired(_) => "the ID token has expired",
        ClaimsVerificationError::InvalidAudience(_) => "the ID token is for another client (aud)",
        ClaimsVerificationError::InvalidIssuer(_) => "the ID token is from another issuer (iss)",
        ClaimsVerificationError::InvalidNonce(_) => "the ID token's nonce is not this sign-in's",
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => "the ID token is signed with a key the identity provider does not publish",
        ClaimsVerificationError::SignatureVerification(_) => {
            "the ID token's signature does not verify"
        }
        _ => "the ID token is not valid",
    };
    tracing::warn!(error = %e, "identity provider: ID token refused");
    refused(why)
}

/// The PKCE verifier of the sign-in bound to `binding`.
fn pkce_verifier(binding: &str) -> PkceCodeVerifier {
    PkceCodeVerifier::new(derived(binding, "pkce verifier"))
}

/// The `nonce` of the sign-in bound to `binding`.
fn nonce_of(binding: &str) -> Nonce {
    Nonce::new(derived(binding, "oidc nonce"))
}

fn live(created_at: i64, now: i64) -> bool {
    now >= created_at && now - created_at < PENDING_TTL_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback() {
        for ok in [
            "https://login.example.com",
            "https://login.example.com/tenant/v2.0",
            "http://127.0.0.1:4444",
            "http://127.0.0.1",
            "http://localhost:8080/realms/x",
            "http://[::1]:9000",
        ] {
            assert!(acceptable_issuer(ok), "{ok}");
        }
        for bad in [
            "http://login.example.com",
            "http://127.0.0.1.example.com",
            "http://localhost.evil:80",
            "http://127.0.0.1:",
            "http://127.0.0.1:80x",
            "http://[::1]evil.example",
            "http://evil@127.0.0.1",
            "https://",
            "https:///x",
            "ftp://127.0.0.1",
            "https://a b",
            "",
        ] {
            assert!(!acceptable_issuer(bad), "{bad}");
        }
    }

    /// Pin the refusals: a `state` is used once (even by a refused
    /// attempt), only from its browser, only within 10 minutes; and the
    /// store holds neither the state nor the binding.
    #[tokio::test]
    async fn pending_sign_ins_are_single_use_bound_and_short_lived() {
        let store = Arc::new(crate::storage::memory::Memory::new());
        let p = PendingSignIns::new(store.clone());
        let t0 = 1_000_000;
        let binding = PendingSignIns::new_binding();
        assert!(binding.starts_with("sao_"));
        p.insert("st1", &binding, t0, Some("prj_a".into()))
            .await
            .unwrap();
        let taken = p
            .take(Some("st1".into()), Some(&binding), t0 + 1)
            .await
            .unwrap();
        assert_eq!(
            (taken.binding.as_str(), taken.project.as_deref()),
            (binding.as_str(), Some("prj_a"))
        );
        let again = p.take(Some("st1".into()), Some(&binding), t0 + 2).await;
        assert!(again.is_err_and(|e| e.to_string().contains("already used")));

        let b2 = PendingSignIns::new_binding();
        p.insert("st2", &b2, t0, None).await.unwrap();
        let row = store
            .take_pending_sign_in(&key_hash("st2"))
            .unwrap()
            .unwrap();
        assert_eq!(row.binding_hash, key_hash(&b2), "only the binding's hash");
        store
            .put_pending_sign_in(&key_hash("st2"), &row, t0, MAX_PENDING)
            .unwrap();
        let other = p.take(Some("st2".into()), Some("sao_other"), t0 + 1).await;
        assert!(other.is_err_and(|e| e.to_string().contains("another browser")));
        let after = p.take(Some("st2".into()), Some(&b2), t0 + 2).await;
        assert!(after.is_err(), "a refused attempt used the state up");

        let b3 = PendingSignIns::new_binding();
        p.insert("st3", &b3, t0, None).await.unwrap();
        let late = p
            .take(Some("st3".into()), Some(&b3), t0 + PENDING_TTL_MS)
            .await;
        assert!(late.is_err_and(|e| e.to_string().contains("10 minutes")));
        assert!(p.take(None, Some(&b3), t0).await.is_err());
    }

    /// The flow's secrets derived from a binding: a valid PKCE verifier
    /// (43 unreserved characters), different per purpose and per binding.
    #[test]
    fn derived_secrets_are_pkce_verifiers_and_differ() {
        let b = PendingSignIns::new_binding();
        let v = derived(&b, "pkce verifier");
        assert_eq!(v.len(), 43);
        assert!(
            v.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(v, derived(&b, "oidc nonce"));
        assert_ne!(v, derived(&PendingSignIns::new_binding(), "pkce verifier"));
        assert_eq!(v, derived(&b, "pkce verifier"));
    }

    #[test]
    fn issuers_compare_without_a_trailing_slash() {
        assert!(same_issuer("https://a.example/", "https://a.example"));
        assert!(!same_issuer("https://a.example/x", "https://a.example"));
    }
}
