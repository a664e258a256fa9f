//! Checkpoint parsing, both of a bare body (`Checkpoint::from_body`) and of
//! a signed note (`open_checkpoint`): never panics; a parsed body
//! serializes back to the same text; a body we sign ourselves opens exactly
//! when it parses and its origin is the key's name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::{Checkpoint, Error, Note, SignerKey, open_checkpoint};

const ORIGIN: &str = "example.com/log";

fuzz_target!(|data: &[u8]| {
    let key = SignerKey::from_seed(ORIGIN, &[1; 32]).unwrap();
    let vkey = key.verifier_key();

    // The input as a signed note.
    if let Ok(opened) = open_checkpoint(data, &vkey) {
        assert_eq!(opened.checkpoint.origin, ORIGIN);
        assert_eq!(opened.checkpoint.to_body(), opened.note.text());
    }

    // The input as a body.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Checkpoint::from_body(text);
    if let Ok(cp) = &parsed {
        assert_eq!(cp.to_body(), text, "parsed checkpoint does not round-trip");
    }
    // Signed by the log's key, it opens iff it parses with the right origin.
    let Ok(mut note) = Note::new(text) else {
        return;
    };
    note.sign(&key);
    let opened = open_checkpoint(&note.to_bytes(), &vkey);
    match (&parsed, &opened) {
        (Ok(cp), Ok(o)) => assert_eq!(cp, &o.checkpoint),
        (Ok(cp), Err(Error::OriginMismatch { .. })) => assert_ne!(cp.origin, ORIGIN),
        (Err(_), Err(Error::MalformedCheckpoint { .. })) => {}
        (p, o) => panic!("from_body {p:?} but open_checkpoint {o:?}"),
    }
});
