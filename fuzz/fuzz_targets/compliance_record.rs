//! The compliance parsers a verifier runs on what a log serves: envelopes
//! (log entries) and records (their JSON bodies), and the time and digest
//! fields they carry.
//!
//! Properties: nothing panics; an envelope that parses is canonical (it
//! serializes back to the same bytes); anything that parses as an envelope
//! is refused by the log's raw write API (`envelope_like`), so that no
//! client can mint an entry a verifier reads as a record's envelope; a
//! record that parses survives a JSON round trip unchanged.
#![no_main]

use compliance::record::{Envelope, Record, envelope_like, parse_digest};
use compliance::time::{parse_date, parse_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_bytes(data) {
        assert_eq!(
            env.to_bytes().expect("serializes"),
            data,
            "an envelope that parses is canonical"
        );
        assert!(
            envelope_like(data).is_some(),
            "an entry that parses as an envelope must be refused by POST /v1/entries"
        );
    }
    if let Ok(record) = Record::from_slice(data) {
        let value = record.to_value().expect("serializes");
        let again: Record = serde_json::from_value(value).expect("reads back");
        assert_eq!(again, record, "a record survives a round trip");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_time(text);
        let _ = parse_date(text);
        let _ = parse_digest(text);
    }
});
