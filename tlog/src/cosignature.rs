//! C2SP tlog-cosignature, the Ed25519 `cosignature/v1` type
//! (<https://c2sp.org/tlog-cosignature>), and verifier keys of either
//! type a policy names ([`Vkey`]).
//!
//! A cosignature is a signed-note signature line over a checkpoint:
//!
//! ```text
//! — <cosigner name> base64(key ID || timestamp || Ed25519 signature)
//! ```
//!
//! - the key ID is `SHA-256(<name> || "\n" || 0x04 || public key)[:4]`
//!   ([`cosigner_key_id`]);
//! - the timestamp is 8 bytes, big-endian, POSIX seconds, at most 2^63 - 1;
//! - the Ed25519 signature is over [`cosigned_message`]:
//!   `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint
//!   body, final newline included.
//!
//! The message does not commit to the cosigner's name, so one key must not
//! serve two cosigners. The ML-DSA-44 type (`0x06`) is not implemented.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::note::{
    ALG_ED25519, NoteSignature, VerifierKey, check_name, key_data, parse_key_text, split_key_text,
};

/// Signature type byte of timestamped Ed25519 witness cosignatures
/// (`cosignature/v1`) in signed notes and verifier keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Length of a `cosignature/v1` signature after the key ID: an 8-byte
/// timestamp and a 64-byte Ed25519 signature.
pub const COSIGNATURE_V1_SIZE: usize = 8 + 64;

/// The largest timestamp a cosignature may carry, 2^63 - 1.
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = (1 << 63) - 1;

/// The message of [`CosignerVerifier::from_text`] for a key of another type.
const UNSUPPORTED_COSIGNER_KEY: &str =
    "not a witness cosigner key (signature type must be 0x04, cosignature/v1)";

/// The key ID of a `cosignature/v1` cosigner key: the first four bytes,
/// big-endian, of `SHA-256(name || 0x0A || 0x04 || public key)`.
///
/// ```
/// // The same name and key have another ID as a log (0x01) key.
/// assert_ne!(
///     tlog::cosigner_key_id("example.com/w", &[7; 32]),
///     tlog::key_id("example.com/w", &[7; 32]),
/// );
/// ```
#[must_use]
pub fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message a `cosignature/v1` signs: the header line
/// `cosignature/v1`, the line `time <timestamp>` (decimal, no leading
/// zeros), then the whole checkpoint body, final newline included.
///
/// ```
/// assert_eq!(
///     tlog::cosigned_message("example.com/log\n1\nAAAA\n", 1679315147),
///     b"cosignature/v1\ntime 1679315147\nexample.com/log\n1\nAAAA\n",
/// );
/// ```
#[must_use]
pub fn cosigned_message(checkpoint_body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_body}").into_bytes()
}

/// A witness's `cosignature/v1` verifier key: its name and Ed25519 public key.
///
/// Text form (a C2SP vkey): `<name>+<key ID>+<base64(0x04 || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignerVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignerVerifier {
    /// Creates a verifier from a name and an Ed25519 public key.
    ///
    /// # Errors
    /// [`Error::InvalidKeyName`], or [`Error::MalformedKey`] if the bytes are
    /// not an Ed25519 public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, Error> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| Error::MalformedKey {
            reason: "not a valid Ed25519 public key",
        })?;
        Ok(CosignerVerifier {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, public_key),
            key,
        })
    }

    /// Parses the vkey `<name>+<key ID>+<base64(0x04 || public key)>`.
    ///
    /// # Errors
    /// [`Error::MalformedKey`] (also for a key of another signature type,
    /// such as a log's Ed25519 `0x01` key, or a key ID that does not match
    /// the name and key) or [`Error::InvalidKeyName`].
    pub fn from_text(text: &str) -> Result<Self, Error> {
        parse_key_text(
            text.trim_end_matches(['\n', '\r']),
            "want <name>+<key ID>+<key data>",
            ALG_COSIGNATURE_V1,
            UNSUPPORTED_COSIGNER_KEY,
            Self::new,
            |k| k.key_id,
        )
    }

    /// The vkey text form.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            key_data(ALG_COSIGNATURE_V1, self.key.as_bytes())
        )
    }

    /// The key name, which names the signature lines.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Whether the signature line `sig` is named for this key (key name and
    /// key ID both match). Lines that are not must be ignored, not refused.
    #[must_use]
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_id == self.key_id
    }

    /// Verifies the cosignature `sig` of the checkpoint body
    /// `checkpoint_body` (the note text, final newline included) and
    /// returns its timestamp. Whether the timestamp is acceptable (not in
    /// the future, recent enough) is the caller's decision.
    ///
    /// # Errors
    /// [`Error::InvalidCosignature`] if the line is not named for this key,
    /// the signature is not 72 bytes, the timestamp exceeds 2^63 - 1, or the
    /// Ed25519 signature does not verify (strictly).
    pub fn verify(&self, checkpoint_body: &str, sig: &NoteSignature) -> Result<u64, Error> {
        let refuse = |reason| Error::InvalidCosignature {
            name: sig.name.clone(),
            key_id: sig.key_id,
            reason,
        };
        if !self.matches(sig) {
            return Err(refuse("key name or key ID is not this cosigner's"));
        }
        let Some((ts, ed)) = sig.signature.split_first_chunk::<8>() else {
            return Err(refuse("signature is not 72 bytes"));
        };
        if sig.signature.len() != COSIGNATURE_V1_SIZE {
            return Err(refuse("signature is not 72 bytes"));
        }
        let timestamp = u64::from_be_bytes(*ts);
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(refuse("timestamp exceeds 2^63 - 1"));
        }
        let Ok(ed) = ed25519_dalek::Signature::from_slice(ed) else {
            return Err(refuse("signature is not 72 bytes"));
        };
        let message = cosigned_message(checkpoint_body, timestamp);
        if self.key.verify_strict(&message, &ed).is_err() {
            return Err(refuse("signature does not verify"));
        }
        Ok(timestamp)
    }
}

impl fmt::Debug for CosignerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignerVerifier({})", self.to_text())
    }
}

/// A witness's `cosignature/v1` signing key.
///
/// Text form: `PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || 32-byte seed)>`.
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct CosignerKey {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl CosignerKey {
    /// Generates a new key named `name` from a cryptographic RNG.
    ///
    /// # Errors
    /// [`Error::InvalidKeyName`].
    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, Error> {
        check_name(name)?;
        Ok(Self::from_signing_key(name, SigningKey::generate(rng)))
    }

    /// Creates a key from a name and a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// [`Error::InvalidKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        check_name(name)?;
        Ok(Self::from_signing_key(name, SigningKey::from_bytes(seed)))
    }

    fn from_signing_key(name: &str, key: SigningKey) -> Self {
        CosignerKey {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, key.verifying_key().as_bytes()),
            key,
        }
    }

    /// Parses `PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || seed)>`.
    ///
    /// # Errors
    /// [`Error::MalformedKey`] (also for a log's `0x01` signing key) or
    /// [`Error::InvalidKeyName`].
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let text = text.trim_end_matches(['\n', '\r']);
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(Error::MalformedKey {
                reason: "private key does not start with PRIVATE+KEY+",
            })?;
        parse_key_text(
            rest,
            "want PRIVATE+KEY+<name>+<key ID>+<key data>",
            ALG_COSIGNATURE_V1,
            UNSUPPORTED_COSIGNER_KEY,
            Self::from_seed,
            |k| k.key_id,
        )
    }

    /// The text form. It contains the secret key.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            key_data(ALG_COSIGNATURE_V1, self.key.as_bytes())
        )
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier key.
    #[must_use]
    pub fn verifier(&self) -> CosignerVerifier {
        CosignerVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns the checkpoint body `checkpoint_body` (the note text, final
    /// newline included) at `timestamp` (POSIX seconds), giving the
    /// signature line's content: 8-byte big-endian timestamp, then the
    /// Ed25519 signature of [`cosigned_message`].
    ///
    /// The timestamp must not exceed 2^63 - 1
    /// ([`MAX_COSIGNATURE_TIMESTAMP`]); verifiers refuse a cosignature
    /// that carries a larger one.
    #[must_use]
    pub fn cosign(&self, checkpoint_body: &str, timestamp: u64) -> NoteSignature {
        let sig = self.key.sign(&cosigned_message(checkpoint_body, timestamp));
        let mut signature = Vec::with_capacity(COSIGNATURE_V1_SIZE);
        signature.extend_from_slice(&timestamp.to_be_bytes());
        signature.extend_from_slice(&sig.to_bytes());
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature,
        }
    }
}

impl fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignerKey({}+{:08x}+<secret>)", self.name, self.key_id)
    }
}

/// A verifier key (C2SP vkey) of either signature type this crate
/// verifies: a log's Ed25519 key (`0x01`) or a witness's `cosignature/v1`
/// key (`0x04`).
///
/// ```
/// use tlog::{CosignerKey, SignerKey, Vkey};
///
/// let log = SignerKey::from_seed("example.com/log", &[1; 32])?.verifier_key();
/// let witness = CosignerKey::from_seed("example.com/w", &[2; 32])?.verifier();
/// assert_eq!(Vkey::from_text(&log.to_text())?, Vkey::Log(log));
/// assert_eq!(Vkey::from_text(&witness.to_text())?, Vkey::Cosigner(witness));
/// # Ok::<(), tlog::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vkey {
    /// An Ed25519 note-signing key (`0x01`), as logs sign checkpoints with.
    Log(VerifierKey),
    /// A `cosignature/v1` key (`0x04`), as witnesses cosign with.
    Cosigner(CosignerVerifier),
}

impl Vkey {
    /// Parses a vkey of signature type `0x01` or `0x04`.
    ///
    /// # Errors
    /// [`Error::MalformedKey`] for any other signature type, a malformed
    /// key, or a key ID that does not match; [`Error::InvalidKeyName`].
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let parts = split_key_text(
            text.trim_end_matches(['\n', '\r']),
            "want <name>+<key ID>+<key data>",
        )?;
        match parts.alg {
            ALG_ED25519 => VerifierKey::from_text(text).map(Vkey::Log),
            ALG_COSIGNATURE_V1 => CosignerVerifier::from_text(text).map(Vkey::Cosigner),
            _ => Err(Error::MalformedKey {
                reason: "unsupported signature type (only 0x01, Ed25519, and 0x04, cosignature/v1)",
            }),
        }
    }

    /// The signature type byte: [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`].
    #[must_use]
    pub fn signature_type(&self) -> u8 {
        match self {
            Vkey::Log(_) => ALG_ED25519,
            Vkey::Cosigner(_) => ALG_COSIGNATURE_V1,
        }
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Vkey::Log(k) => k.name(),
            Vkey::Cosigner(k) => k.name(),
        }
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        match self {
            Vkey::Log(k) => k.key_id(),
            Vkey::Cosigner(k) => k.key_id(),
        }
    }

    /// The raw Ed25519 public key (the same bytes whatever the type).
    #[must_use]
    pub fn public_key(&self) -> &[u8; 32] {
        match self {
            Vkey::Log(k) => k.public_key(),
            Vkey::Cosigner(k) => k.public_key(),
        }
    }

    /// The text form.
    #[must_use]
    pub fn to_text(&self) -> String {
        match self {
            Vkey::Log(k) => k.to_text(),
            Vkey::Cosigner(k) => k.to_text(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    #[test]
    fn key_text_round_trip() {
        let key = CosignerKey::from_seed("example.com/w1", &[3; 32]).unwrap();
        let again = CosignerKey::from_text(&key.to_text()).unwrap();
        assert_eq!(again.verifier(), key.verifier());
        let v = key.verifier();
        assert_eq!(CosignerVerifier::from_text(&v.to_text()).unwrap(), v);
        assert!(!format!("{key:?}").contains(&key.to_text()));
        assert!(format!("{key:?}").contains("<secret>"));
        // Both key data start with the type byte 0x04.
        use base64::Engine as _;
        for text in [key.to_text(), v.to_text()] {
            let data = text.rsplit('+').next().unwrap();
            let data = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            assert_eq!((data[0], data.len()), (0x04, 33), "{text}");
        }
    }

    #[test]
    fn key_types_are_not_interchangeable() {
        let log = crate::SignerKey::from_seed("example.com/w1", &[3; 32]).unwrap();
        let w = CosignerKey::from_seed("example.com/w1", &[3; 32]).unwrap();
        // Same name and key, different type byte and so different key ID.
        assert_ne!(log.key_id(), w.key_id());
        for (text, want) in [
            (log.verifier_key().to_text(), "0x04"),
            (log.to_text(), "0x04"),
        ] {
            let err = if text.starts_with("PRIVATE") {
                CosignerKey::from_text(&text).map(|k| k.verifier())
            } else {
                CosignerVerifier::from_text(&text)
            }
            .unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        assert!(VerifierKey::from_text(&w.verifier().to_text()).is_err());
        assert!(crate::SignerKey::from_text(&w.to_text()).is_err());
        // A 0x04 vkey whose key ID was computed as for 0x01 is refused.
        let forged = format!(
            "example.com/w1+{:08x}+{}",
            log.key_id(),
            key_data(ALG_COSIGNATURE_V1, w.verifier().public_key())
        );
        assert!(CosignerVerifier::from_text(&forged).is_err());
        assert!(Vkey::from_text(&forged).is_err());
        let other_type = format!(
            "example.com/w1+{:08x}+{}",
            w.key_id(),
            key_data(0x06, w.verifier().public_key())
        );
        assert!(
            Vkey::from_text(&other_type)
                .unwrap_err()
                .to_string()
                .contains("unsupported signature type")
        );
    }

    #[test]
    fn cosign_and_verify() {
        let key = CosignerKey::from_seed("example.com/w1", &[3; 32]).unwrap();
        let v = key.verifier();
        let sig = key.cosign(BODY, 1_700_000_000);
        assert_eq!(sig.signature.len(), 72);
        assert_eq!(&sig.signature[..8], &1_700_000_000u64.to_be_bytes());
        assert_eq!(v.verify(BODY, &sig), Ok(1_700_000_000));
        // Another body, another timestamp, a flipped bit: refused.
        assert!(v.verify("example.com/log\n6\nAAAA\n", &sig).is_err());
        let mut t = sig.clone();
        t.signature[7] ^= 1;
        assert!(v.verify(BODY, &t).is_err());
        for i in [8, 40, 71] {
            let mut t = sig.clone();
            t.signature[i] ^= 0x80;
            assert_eq!(
                v.verify(BODY, &t).unwrap_err(),
                Error::InvalidCosignature {
                    name: "example.com/w1".into(),
                    key_id: key.key_id(),
                    reason: "signature does not verify"
                }
            );
        }
        // Wrong length, both ways.
        let mut t = sig.clone();
        t.signature.push(0);
        assert!(v.verify(BODY, &t).is_err());
        t.signature.truncate(71);
        assert!(v.verify(BODY, &t).is_err());
        t.signature.truncate(4);
        assert!(v.verify(BODY, &t).is_err());
        // Wrong name or key ID.
        let mut t = sig.clone();
        t.name = "example.com/w2".into();
        assert!(v.verify(BODY, &t).is_err());
        let mut t = sig.clone();
        t.key_id ^= 1;
        assert!(v.verify(BODY, &t).is_err());
        // The largest timestamp is accepted, one more is refused even though
        // the signature over it verifies.
        let max = key.cosign(BODY, MAX_COSIGNATURE_TIMESTAMP);
        assert_eq!(v.verify(BODY, &max), Ok(MAX_COSIGNATURE_TIMESTAMP));
        let over = key.cosign(BODY, MAX_COSIGNATURE_TIMESTAMP + 1);
        assert_eq!(
            v.verify(BODY, &over).unwrap_err(),
            Error::InvalidCosignature {
                name: "example.com/w1".into(),
                key_id: key.key_id(),
                reason: "timestamp exceeds 2^63 - 1"
            }
        );
    }

    #[test]
    fn message_format() {
        assert_eq!(
            cosigned_message("o\n0\nx\n", 0),
            b"cosignature/v1\ntime 0\no\n0\nx\n"
        );
        assert_eq!(
            cosigned_message("o\n1\nx\next\n", u64::MAX >> 1),
            b"cosignature/v1\ntime 9223372036854775807\no\n1\nx\next\n"
        );
    }
}
