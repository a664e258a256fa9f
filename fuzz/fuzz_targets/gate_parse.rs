//! Opening an OpenAPI document from arbitrary bytes never panics, and stays
//! within small budgets (the limits are lowered so the fuzzer runs fast).
#![no_main]

use gate::{Document, Limits, MemoryFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_document_bytes: 1 << 16, max_depth: 64, max_nodes: 20_000, max_files: 2, max_total_bytes: 1 << 17 };
    // The same bytes are also offered as a referenced file, to reach the $ref code.
    let files = MemoryFiles([("other.yaml".to_owned(), data.to_vec())].into());
    let _ = Document::from_bytes(data, "fuzz.yaml", &files, &limits);
});
