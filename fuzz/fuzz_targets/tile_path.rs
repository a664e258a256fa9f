//! Tile path parsing: never panics, and a parsed path re-encodes to the
//! same text (the parser accepts only the canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::{TilePath, parse_tile_path};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = parse_tile_path(text) else {
        return;
    };
    let encoded = match parsed {
        TilePath::Tile(t) => {
            assert!(t.width >= 1 && t.width <= 256);
            assert!(t.level <= tlog::MAX_TILE_LEVEL);
            t.path()
        }
        TilePath::Bundle(b) => {
            assert!(b.width >= 1 && b.width <= 256);
            b.path()
        }
    };
    assert_eq!(encoded, text.strip_prefix('/').unwrap_or(text));
    assert_eq!(parse_tile_path(&encoded), Ok(parsed));
});
