//! Diffing two arbitrary documents never panics, and is deterministic: the
//! same pair gives the same findings twice, and a document diffed with itself
//! gives none.
#![no_main]

use gate::{Config, Date, Document, Limits, NoFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_document_bytes: 1 << 16, max_depth: 64, max_nodes: 20_000, max_files: 0, max_total_bytes: 1 << 17 };
    // Split the input at the first NUL: base, then revision.
    let (a, b) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let (Ok(base), Ok(rev)) = (Document::from_bytes(a, "base.yaml", &NoFiles, &limits), Document::from_bytes(b, "rev.yaml", &NoFiles, &limits)) else {
        return;
    };
    let today = Date { year: 2025, month: 1, day: 1 };
    let config = Config::default();
    let one = gate::diff(&base, &rev, &config, today);
    let two = gate::diff(&base, &rev, &config, today);
    assert_eq!(one, two);
    assert!(gate::diff(&base, &base, &config, today).findings.is_empty());
});
