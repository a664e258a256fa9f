//! The HTTP API's query strings, decoded as the server decodes them: by
//! `serde_urlencoded` into a map (what axum's `Query` does), then the
//! period every report route takes (`from`, `to`, `format`:
//! `ExportRequest::parse`, the export, changelog, digest and share views),
//! the dates and times of `compliance::time` on every value, and a tile
//! path on every key. Never panics; an accepted period is well formed
//! (`from <= to`, `from <= today`) and its dates print back to the days
//! they were parsed from; an accepted time prints back to the same instant.
#![no_main]

use std::collections::HashMap;

use compliance::export::ExportRequest;
use compliance::time::{format_date, format_time, parse_date, parse_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = serde_urlencoded::from_bytes::<HashMap<String, String>>(data) else {
        return;
    };
    let get = |k: &str| q.get(k).map(String::as_str);
    // Today: the epoch, 2026-12-06 and 9999-12-31.
    for today in [0, 20_793, 2_932_896] {
        if let Ok(r) = ExportRequest::parse(get("from"), get("to"), get("format"), today) {
            assert!(r.from <= r.to && r.from <= today, "{r:?} today {today}");
            if let Some(to) = get("to") {
                assert_eq!(format_date(r.to), to);
            }
            if let Some(from) = get("from") {
                assert_eq!(format_date(r.from), from);
            }
        }
    }
    for v in q.values() {
        if let Some(day) = parse_date(v) {
            assert_eq!(format_date(day), *v);
        }
        if let Some(ms) = parse_time(v) {
            assert_eq!(parse_time(&format_time(ms)), Some(ms));
        }
        let _ = v.parse::<u64>();
    }
    for k in q.keys() {
        let _ = tlog::parse_tile_path(k);
    }
});
