//! Signed-note parsing: never panics, and whatever parses serializes back
//! to the same bytes (the parser accepts only canonical notes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::{Note, SignerKey};

fuzz_target!(|data: &[u8]| {
    let Ok(note) = Note::from_bytes(data) else {
        return;
    };
    assert_eq!(note.to_bytes(), data, "parsed note does not round-trip");
    assert!(note.text().ends_with('\n'));
    // Verifying against a key, known by name or not, never panics.
    let key = SignerKey::from_seed("example.com/log", &[1; 32]).unwrap();
    let _ = note.verify(&[key.verifier_key()]);
    if let Some(sig) = note.signatures().first()
        && let Ok(other) = SignerKey::from_seed(&sig.name, &[2; 32])
    {
        let _ = note.verify(&[other.verifier_key()]);
    }
});
