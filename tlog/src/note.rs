//! C2SP signed-note with Ed25519 keys (<https://c2sp.org/signed-note>).
//!
//! A note is UTF-8 text followed by a blank line and one or more signature
//! lines `— <key name> <base64(key ID || signature)>`. Opening a note with a
//! set of [`VerifierKey`]s verifies the signatures from known keys and keeps
//! the others (cosignatures, say) unverified, as `golang.org/x/mod/sumdb/note` does.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::Error;

/// Signature type byte of Ed25519 keys in signed notes.
pub const ALG_ED25519: u8 = 0x01;

/// The em dash and space that start every signature line.
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";

/// Most signature lines a note may carry (as in Go's `note` package).
pub const MAX_SIGNATURES: usize = 100;

/// The key ID of an Ed25519 key: the first four bytes, big-endian, of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
#[must_use]
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Whether `name` can name a key: non-empty, no whitespace, no `+`.
#[must_use]
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

fn parse_key_id(hex: &str) -> Result<u32, Error> {
    if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::MalformedKey {
            reason: "key ID is not 8 lowercase hex digits",
        });
    }
    u32::from_str_radix(hex, 16).map_err(|_| Error::MalformedKey {
        reason: "key ID is not 8 lowercase hex digits",
    })
}

/// The parts of a key's text form `<name>+<hex key ID>+<base64(type || key)>`
/// (after any `PRIVATE+KEY+` prefix), not yet checked against each other.
pub(crate) struct KeyText<'a> {
    /// The key name.
    pub name: &'a str,
    /// The key ID as written.
    pub key_id: u32,
    /// The signature type byte.
    pub alg: u8,
    /// The key material after the type byte.
    pub key: Vec<u8>,
}

/// Splits a key's text form into its parts. `form` names the expected
/// form in errors.
pub(crate) fn split_key_text<'a>(text: &'a str, form: &'static str) -> Result<KeyText<'a>, Error> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(data), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::MalformedKey { reason: form });
    };
    let key_id = parse_key_id(id)?;
    let data = B64.decode(data).map_err(|_| Error::MalformedKey {
        reason: "key data is not valid base64",
    })?;
    let Some((&alg, key)) = data.split_first() else {
        return Err(Error::MalformedKey {
            reason: "key data is empty",
        });
    };
    Ok(KeyText {
        name,
        key_id,
        alg,
        key: key.to_vec(),
    })
}

/// Parses `<name>+<hex key ID>+<base64 key data>` (the text form of a key
/// after any prefix) whose signature type must be `alg`, makes the key with
/// `make`, and checks that the key ID matches the name and key. `form`
/// names the expected form in errors, `unsupported` the error for another
/// signature type.
pub(crate) fn parse_key_text<K>(
    text: &str,
    form: &'static str,
    alg: u8,
    unsupported: &'static str,
    make: impl FnOnce(&str, &[u8; 32]) -> Result<K, Error>,
    id_of: impl FnOnce(&K) -> u32,
) -> Result<K, Error> {
    let parts = split_key_text(text, form)?;
    if parts.alg != alg {
        return Err(Error::MalformedKey {
            reason: unsupported,
        });
    }
    let bytes: [u8; 32] = parts
        .key
        .as_slice()
        .try_into()
        .map_err(|_| Error::MalformedKey {
            reason: "Ed25519 key is not 32 bytes",
        })?;
    let key = make(parts.name, &bytes)?;
    if id_of(&key) != parts.key_id {
        return Err(Error::MalformedKey {
            reason: "key ID does not match the name and key",
        });
    }
    Ok(key)
}

/// `base64(alg || bytes)`, the last part of a key's text form.
pub(crate) fn key_data(alg: u8, bytes: &[u8; 32]) -> String {
    let mut v = Vec::with_capacity(33);
    v.push(alg);
    v.extend_from_slice(bytes);
    B64.encode(v)
}

/// The message of [`VerifierKey::from_text`] for a key of another type.
const UNSUPPORTED_LOG_KEY: &str = "unsupported key type (only Ed25519, 0x01)";

/// An Ed25519 public key that verifies note signatures, with its name.
///
/// Text form: `<name>+<key ID as 8 hex digits>+<base64(0x01 || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// Creates a verifier key from a name and a public key.
    ///
    /// # Errors
    /// [`Error::InvalidKeyName`], or [`Error::MalformedKey`] if the bytes are
    /// not an Ed25519 public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, Error> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| Error::MalformedKey {
            reason: "not a valid Ed25519 public key",
        })?;
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: key_id(name, public_key),
            key,
        })
    }

    /// Parses the text form `<name>+<hex key ID>+<base64 key data>`.
    ///
    /// # Errors
    /// [`Error::MalformedKey`] or [`Error::InvalidKeyName`]; also if the key ID
    /// does not match the name and key.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        parse_key_text(
            text.trim_end_matches(['\n', '\r']),
            "want <name>+<key ID>+<key data>",
            ALG_ED25519,
            UNSUPPORTED_LOG_KEY,
            Self::new,
            |k| k.key_id,
        )
    }

    /// The text form.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            key_data(ALG_ED25519, self.key.as_bytes())
        )
    }

    /// The key's name (for a log, its origin).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw public key.
    #[must_use]
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Whether `signature` is this key's signature of `message`
    /// (strict Ed25519 verification).
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({})", self.to_text())
    }
}

/// An Ed25519 signing key with its name.
///
/// Text form: `PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || 32-byte seed)>`.
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl SignerKey {
    /// Generates a new key named `name` from a cryptographic RNG.
    ///
    /// # Errors
    /// [`Error::InvalidKeyName`].
    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, Error> {
        check_name(name)?;
        let key = SigningKey::generate(rng);
        Ok(Self::from_signing_key(name, key))
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
        SignerKey {
            name: name.to_owned(),
            key_id: key_id(name, key.verifying_key().as_bytes()),
            key,
        }
    }

    /// Parses the text form `PRIVATE+KEY+<name>+<key ID>+<key data>`.
    ///
    /// # Errors
    /// [`Error::MalformedKey`] or [`Error::InvalidKeyName`].
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
            ALG_ED25519,
            UNSUPPORTED_LOG_KEY,
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
            key_data(ALG_ED25519, self.key.as_bytes())
        )
    }

    /// The key's name.
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
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `message`, giving a note signature line's content.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(message).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({}+{:08x}+<secret>)", self.name, self.key_id)
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The signer's key ID.
    pub key_id: u32,
    /// The signature bytes that follow the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its trailing newline.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut data = Vec::with_capacity(4 + self.signature.len());
        data.extend_from_slice(&self.key_id.to_be_bytes());
        data.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(data))
    }
}

/// A signed note: text and signatures, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Checks the rules every note text follows: non-empty, ends in a newline,
/// no ASCII control characters other than newline.
fn check_text(text: &str) -> Result<(), Error> {
    if text.is_empty() {
        return Err(Error::MalformedNote {
            reason: "text is empty",
        });
    }
    if !text.ends_with('\n') {
        return Err(Error::MalformedNote {
            reason: "text does not end in a newline",
        });
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(Error::MalformedNote {
            reason: "text contains a control character",
        });
    }
    Ok(())
}

impl Note {
    /// Creates an unsigned note.
    ///
    /// # Errors
    /// [`Error::MalformedNote`] if the text is empty, does not end in a
    /// newline, or has control characters other than newline.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        check_text(&text)?;
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note strictly.
    ///
    /// # Errors
    /// [`Error::MalformedNote`] if it is not valid UTF-8, has no signature
    /// block, or any signature line is malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let msg = std::str::from_utf8(bytes).map_err(|_| Error::MalformedNote {
            reason: "not valid UTF-8",
        })?;
        if msg.chars().any(|c| c < ' ' && c != '\n') {
            return Err(Error::MalformedNote {
                reason: "note contains a control character",
            });
        }
        let split = msg.rfind("\n\n").ok_or(Error::MalformedNote {
            reason: "no blank line before the signatures",
        })?;
        let text = &msg[..=split];
        let sigs = &msg[split + 2..];
        check_text(text)?;
        if sigs.is_empty() {
            return Err(Error::MalformedNote {
                reason: "no signatures",
            });
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(Error::MalformedNote {
                reason: "signature block does not end in a newline",
            });
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(Error::MalformedNote {
                    reason: "too many signatures",
                });
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, ending in a newline.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signatures, in order.
    #[must_use]
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature by `key` over the text.
    pub fn sign(&mut self, key: &SignerKey) {
        let sig = key.sign(self.text.as_bytes());
        self.signatures.push(sig);
    }

    /// Adds a signature line as it is (for example a cosignature).
    pub fn push_signature(&mut self, signature: NoteSignature) {
        self.signatures.push(signature);
    }

    /// The note's serialized form: text, blank line, signature lines.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the note's signatures against `keys`.
    ///
    /// Signatures from keys not in `keys` are kept and ignored. A signature
    /// whose name and key ID match a known key must verify.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`] if a known key's signature does not verify;
    /// [`Error::NoVerifiedSignature`] if no known key signed.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<VerifierKey>, Error> {
        let mut verified: Vec<VerifierKey> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = keys
                .iter()
                .find(|k| k.key_id == sig.key_id && k.name == sig.name)
            else {
                continue;
            };
            if !key.verify(self.text.as_bytes(), &sig.signature) {
                return Err(Error::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !verified.contains(key) {
                verified.push(key.clone());
            }
        }
        if verified.is_empty() {
            return Err(Error::NoVerifiedSignature);
        }
        Ok(verified)
    }
}

pub(crate) fn parse_signature_line(line: &str) -> Result<NoteSignature, Error> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(Error::MalformedNote {
        reason: "signature line does not start with an em dash",
    })?;
    let (name, b64) = rest.split_once(' ').ok_or(Error::MalformedNote {
        reason: "signature line has no space after the key name",
    })?;
    if !is_valid_key_name(name) {
        return Err(Error::MalformedNote {
            reason: "signature line has an invalid key name",
        });
    }
    let data = B64.decode(b64).map_err(|_| Error::MalformedNote {
        reason: "signature is not valid base64",
    })?;
    if data.len() < 5 {
        return Err(Error::MalformedNote {
            reason: "signature is too short",
        });
    }
    let key_id = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id,
        signature: data[4..].to_vec(),
    })
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            f.write_str(&s.to_line())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reject_tampering() {
        let key = SignerKey::from_seed("example.com/log", &[7; 32]).unwrap();
        let vkey = key.verifier_key();
        assert_eq!(VerifierKey::from_text(&vkey.to_text()).unwrap(), vkey);
        let again = SignerKey::from_text(&key.to_text()).unwrap();
        assert_eq!(again.verifier_key(), vkey);
        assert!(!format!("{key:?}").contains(&key.to_text()));

        let mut note = Note::new("hello\nworld\n").unwrap();
        note.sign(&key);
        let bytes = note.to_bytes();
        let parsed = Note::from_bytes(&bytes).unwrap();
        assert_eq!(parsed, note);
        assert_eq!(
            parsed.verify(std::slice::from_ref(&vkey)).unwrap(),
            vec![vkey.clone()]
        );

        let mut tampered = bytes.clone();
        tampered[0] ^= 1;
        assert_eq!(
            Note::from_bytes(&tampered).unwrap().verify(&[vkey]),
            Err(Error::InvalidSignature {
                name: "example.com/log".into(),
                key_id: key.key_id()
            })
        );
    }

    #[test]
    fn malformed_keys() {
        for bad in [
            "",
            "name",
            "name+1234567+AQ==",
            "name+zzzzzzzz+AQ==",
            "na me+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k+x",
        ] {
            assert!(VerifierKey::from_text(bad).is_err(), "{bad:?}");
        }
        assert!(SignerKey::from_text("example.com/foo+530d903a+AQ==").is_err());
        assert!(SignerKey::generate("bad name", &mut rand_core::OsRng).is_err());
    }

    #[test]
    fn malformed_notes() {
        for bad in [
            &b""[..],
            b"text\n",
            b"text\n\n",
            b"text\n\nnot a signature\n",
            b"text\n\n\xe2\x80\x94 a AAAAAAA=",
            b"text\n\n\xe2\x80\x94 a AAAA\n",
            b"te\x01xt\n\n\xe2\x80\x94 a AAAAAAA=\n",
            b"\xff\n\n\xe2\x80\x94 a AAAAAAA=\n",
        ] {
            assert!(
                Note::from_bytes(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
